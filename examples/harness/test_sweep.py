"""The sweep's tests, written against bmlocal's pytest plugin (fixture `bml`)."""
import pytest
from sweep import SweepError, run_sweep

from bmlocal.client import BmlError

LRS = [0.3, 0.1, 0.01]


def test_the_best_trial_wins(bml) -> None:
    result = run_sweep(bml.client, "p1", LRS, bml.server.pfs)
    assert result.best.lr == 0.1 and result.best.accuracy == 0.95
    assert [t.status for t in result.trials] == ["SUCCESSED"] * 3
    assert [c["body"]["name"] for c in bml.calls("create")] == ["sweep-0", "sweep-1", "sweep-2"]


def test_a_failing_trial_is_reported_not_chosen(bml) -> None:
    result = run_sweep(bml.client, "p1", [0.3, -1.0], bml.server.pfs)
    assert result.best.lr == 0.3
    failed = result.trials[1]
    assert (failed.status, failed.reason) == ("FAILED", "node 0 exited with code 3")
    assert bml.client.logs(failed.job_id, "p1")["content"] == "loss is nan: diverged\n"


def test_every_trial_failing_is_an_error(bml) -> None:
    with pytest.raises(SweepError, match="every trial failed: lr=-1.0: node 0 exited"):
        run_sweep(bml.client, "p1", [-1.0], bml.server.pfs)


def test_a_full_quota_stops_what_was_submitted(bml) -> None:
    for i in range(9):  # the project holds 10 jobs at most
        bml.client.create({**_filler(i), "prjId": "crowded"})
    with pytest.raises(SweepError, match="holds its maximum of jobs") as full:
        run_sweep(bml.client, "crowded", LRS, bml.server.pfs)
    assert isinstance(full.value.__cause__, BmlError)
    assert full.value.__cause__.error_code == 406035
    (first,) = [c["answer"]["result"] for c in bml.calls("create")
                if c["body"]["name"] == "sweep-0"]
    assert bml.client.wait(first, "crowded", timeout=60)["train_status"] in (
        "STOPPED", "SUCCESSED")  # stopped, or ended before the stop came


def test_an_expired_token_is_renewed_once(bml) -> None:
    bml.fail_next("create", 111)  # the cloud says: Access token expired
    result = run_sweep(bml.client, "p1", LRS, bml.server.pfs)
    assert result.best.lr == 0.1
    codes = [c["answer"].get("error_code") for c in bml.calls("create")]
    assert codes == [111, None, None, None]
    assert len(bml.calls("token")) == 1


def test_a_flaky_create_is_retried_without_duplicates(bml) -> None:
    bml.drop_next("create")  # no answer at all: the connection is closed
    bml.fail_next("create", 406000)  # then an internal error
    result = run_sweep(bml.client, "p1", LRS, bml.server.pfs)
    assert result.best.lr == 0.1
    assert bml.client.list("p1")["total"] == 3  # nothing created twice
    faults = [c["fault"] for c in bml.calls("create")]
    assert faults == ["connection dropped", "error_code 406000", None, None, None]


def _filler(i: int) -> dict:
    return {"name": f"old-{i}", "description": "an earlier job",
            "train_config": {"env_type": "DEFAULT", "code_UrlSource": "PFS", "start_cmd": "true",
                             "output_UrlSource": "PFS", "output_path": f"/old/{i}"},
            "dataset_config": {},
            "resource_config": {"resource_name": "CPU_4C_16G", "node_count": 1,
                                "max_duration": 1}}
