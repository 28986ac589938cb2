"""Real multi-process training runs for each strategy through the API (process executor)."""
import json
import os
import time
from pathlib import Path

import pytest

from tests.conftest import leftover_pids
from tests.distributed.conftest import FRAMEWORKS, require
from tests.support.server import Server

SCRIPTS = {"PytorchDDP": "ddp_allreduce.py", "PaddleFleet": "paddle_allreduce.py",
           "Horovod": "hvd_allreduce.py"}
FRAMEWORK_DIR = Path(__file__).resolve().parents[1] / "frameworks"
STRATEGIES = list(SCRIPTS)


def stage_scripts(server: Server, strategy: str) -> str:
    files = {name: (FRAMEWORK_DIR / name).read_text()
             for name in (SCRIPTS[strategy], "_result.py")}
    return server.write_code(f"code/{strategy}", files)


def create(server: Server, name: str, strategy: str, nodes: int, cmd: str | None = None
           ) -> int:
    require(FRAMEWORKS[strategy])
    code = stage_scripts(server, strategy)
    return server.create(name, cmd or f"python {SCRIPTS[strategy]}", **{
        "train_config.code_path": code, "train_config.distribute_strategy": strategy,
        "resource_config.node_count": nodes})


def result(server: Server, name: str) -> dict:
    return json.loads((server.pfs / "out" / name / "result.json").read_text())


@pytest.mark.parametrize("nodes", [1, 2])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_all_reduce_across_every_node(server: Server, strategy: str, nodes: int) -> None:
    name = f"{strategy.lower()}-{nodes}"
    job_id = create(server, name, strategy, nodes)
    info = server.wait(job_id, timeout=240)
    logs = "".join(server.node_log(job_id, r) for r in range(nodes))
    assert info["train_status"] == "SUCCESSED", logs
    assert result(server, name) == {"world_size": nodes, "sum": sum(range(1, nodes + 1))}
    for rank in range(nodes):  # every rank's output is in the job's logs
        assert f"rank {rank} of {nodes}" in logs or f"rank {rank} of {nodes}" in all_logs(
            server, job_id)


def all_logs(server: Server, job_id: int) -> str:
    logs = server.data_dir / "jobs" / str(job_id) / "logs"
    return "".join(p.read_text(errors="replace") for p in logs.rglob("*") if p.is_file())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_failing_rank_fails_the_job_with_its_node_and_code(server: Server,
                                                             strategy: str) -> None:
    job_id = create(server, f"fail-{strategy.lower()}", strategy, 2,
                    f"python {SCRIPTS[strategy]} --fail-rank 1")
    info = server.wait(job_id, timeout=240)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"].startswith("node 1 exited with code"), info["status_reason"]
    assert leftover_pids(server.data_dir) == []


def test_the_ddp_launcher_is_not_wrapped_twice(server: Server) -> None:
    job_id = create(server, "torchrun", "PytorchDDP", 2, "torchrun ddp_allreduce.py")
    assert server.wait(job_id, timeout=240)["train_status"] == "SUCCESSED"
    assert result(server, "torchrun")["world_size"] == 2


@pytest.mark.parametrize("strategy", ["PytorchDDP", "Horovod"])
def test_a_node_that_never_joins_fails_the_job_in_bounded_time(server: Server,
                                                               strategy: str) -> None:
    script = SCRIPTS[strategy]
    lonely = 'if [ "$BML_NODE_RANK" = 1 ]; then sleep 600; else {}; fi'
    cmd = {"PytorchDDP": lonely.format(f"torchrun {script}"),
           # horovodrun must be the whole start_cmd (else the node fails at once, saying why):
           # here node 1's rank never joins the world
           "Horovod": "horovodrun -np 2 sh -c '{}'".format(lonely.format(f"python {script}"))
           }[strategy]
    started = time.monotonic()
    job_id = create(server, f"lonely-{strategy.lower()}", strategy, 2, cmd)
    info = server.wait(job_id, timeout=180)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"].startswith("node 0 exited with code")
    assert time.monotonic() - started < 120
    assert leftover_pids(server.data_dir) == []


def test_two_distributed_jobs_run_side_by_side(server: Server) -> None:
    first = create(server, "side-a", "PytorchDDP", 2)
    second = create(server, "side-b", "PytorchDDP", 2)
    for job_id in (first, second):
        assert server.wait(job_id, timeout=240)["train_status"] == "SUCCESSED"
    assert result(server, "side-a") == result(server, "side-b") == {"world_size": 2,
                                                                     "sum": 3.0}


def test_the_launcher_variables_of_each_strategy(server: Server) -> None:
    job_id = server.create("vars", "env | grep -E '^(PET_|MASTER_|BML_)' | sort", **{
        "train_config.distribute_strategy": "PytorchDDP", "resource_config.node_count": 2})
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    log = server.node_log(job_id, 1)
    for line in ("PET_NNODES=2", "PET_NODE_RANK=1", "BML_NODE_RANK=1", "BML_NODE_COUNT=2",
                 "MASTER_ADDR=127.0.0.1", f"BML_JOB_ID={job_id}"):
        assert line in log, log
    assert os.environ.get("PET_NNODES") is None
