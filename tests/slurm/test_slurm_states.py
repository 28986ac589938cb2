"""Every Slurm job state has a meaning for bmlocal; squeue's lines are read as they come."""
import pytest

from bmlocal.runtime.executors.slurm_state import Phase, meaning, parse_queue
from bmlocal.runtime.status import Status

ENDED_FAILED = ["FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY",
                "BOOT_FAIL", "DEADLINE"]


@pytest.mark.parametrize("state, phase, status", [
    ("PENDING", Phase.WAITING, Status.PENDING), ("CONFIGURING", Phase.WAITING, Status.PENDING),
    ("RUNNING", Phase.RUNNING, Status.RUNNING), ("COMPLETING", Phase.RUNNING, Status.RUNNING),
    ("COMPLETED", Phase.ENDED, Status.SUCCESSED),
    *[(state, Phase.ENDED, Status.FAILED) for state in ENDED_FAILED]])
def test_each_slurm_state_maps_to_a_phase_and_status(state: str, phase: Phase,
                                                     status: Status) -> None:
    assert (meaning(state).phase, meaning(state).status) == (phase, status)
    assert meaning(state).text


def test_decorated_states_count_as_their_base_state() -> None:
    assert meaning("CANCELLED by 0").status == Status.FAILED
    assert meaning("COMPLETING+").phase == Phase.RUNNING
    assert meaning("SOMETHING_NEW").phase == Phase.RUNNING  # unknown: never ended by guess


def test_squeue_lines_of_other_jobs_are_left_out() -> None:
    text = ("12|PENDING|Resources||0:0|bml-abc123-7|\n"
            "13|RUNNING|None|n[1-2]|0:0|someone-else|\n")
    entries = parse_queue(text, "bml-abc123-")
    assert list(entries) == ["12"]
    assert entries["12"].describe() == "Slurm job 12 PENDING (Resources)"


def test_the_batch_scripts_exit_code_is_read_in_either_form() -> None:
    entries = parse_queue("5|FAILED|NonZeroExitCode|n1|768|bml-x-1|\n"
                          "6|FAILED|NonZeroExitCode|n1|3:0|bml-x-2|\n", "bml-x-")
    assert entries["5"].exit_status == entries["6"].exit_status == 3
