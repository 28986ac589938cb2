"""horovodrun's command line as bmlocal's horovod agent reads it (with horovod's own parser)."""
import importlib.util

import pytest

from tests.distributed.conftest import require

if importlib.util.find_spec("horovod") is None:  # skips here, fails where it is required
    pytestmark = pytest.mark.usefixtures("horovod_required")
else:
    from bmlocal.launchers.horovodrun_options import Refused, parse


@pytest.fixture
def horovod_required() -> None:
    require("horovod")


def test_tuning_options_become_horovods_own_variables() -> None:
    run = parse(["-np", "2", "--fusion-threshold-mb", "32", "--cycle-time-ms", "2.5",
                 "--cache-capacity", "0", "--timeline-filename", "t.json",
                 "--timeline-mark-cycles", "--autotune", "--autotune-log-file", "a.csv",
                 "--no-stall-check", "--gloo-timeout-seconds", "90", "--log-level", "INFO",
                 "--network-interfaces", "eth0", "--start-timeout", "60",
                 "python", "train.py", "--lr", "0.1"])
    assert run.command == ["python", "train.py", "--lr", "0.1"]
    assert run.env == {
        "HOROVOD_FUSION_THRESHOLD": str(32 * 1024 * 1024), "HOROVOD_CYCLE_TIME": "2.5",
        "HOROVOD_CACHE_CAPACITY": "0", "HOROVOD_TIMELINE": "t.json",
        "HOROVOD_TIMELINE_MARK_CYCLES": "1", "HOROVOD_AUTOTUNE": "1",
        "HOROVOD_AUTOTUNE_LOG": "a.csv", "HOROVOD_STALL_CHECK_DISABLE": "1",
        "HOROVOD_GLOO_TIMEOUT_SECONDS": "90", "HOROVOD_LOG_LEVEL": "INFO"}
    assert (run.nics, run.start_timeout) == (["eth0"], 60)


def test_hosts_and_process_count_give_way_to_the_job_and_say_so() -> None:
    run = parse(["-np", "4", "-H", "a:2,b:2", "--verbose", "./run.sh"])
    assert run.command == ["./run.sh"] and run.env == {}
    assert run.notes == ["horovodrun -np 4: not used, the job's topology sets the ranks",
                         "horovodrun -H a:2,b:2: not used, the job's nodes are the hosts",
                         "horovodrun --verbose: not used, bmlocal's node agent has no more "
                         "to say"]


@pytest.mark.parametrize("argv, reason", [
    (["-np", "2", "--mpi", "python", "x.py"], "--mpi is not supported here"),
    (["-np", "2", "--min-np", "1", "python", "x.py"], "elastic Horovod is not supported"),
    (["-np", "2", "--output-filename", "o", "python", "x.py"], "--output-filename"),
    (["-np", "2", "--fusion-threshold-mb", "-1", "python", "x.py"],
     "fusion_threshold_mb=-1 must be >= 0"),
    (["-np", "2"], "no command to run"),
])
def test_what_bmlocal_cannot_honour_is_refused_with_the_reason(argv: list[str],
                                                               reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        parse(argv)


def test_horovodruns_own_usage_errors_end_as_horovodrun_would() -> None:
    with pytest.raises(SystemExit) as ended:
        parse(["python", "x.py"])  # -np is required
    assert ended.value.code == 2
