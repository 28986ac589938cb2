"""Jobs of a Slurm pool on a real two-node cluster (scripts/slurm.sh), through the API."""
import json
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.distributed.conftest import FRAMEWORKS, require
from tests.distributed.test_strategies import SCRIPTS
from tests.slurm.conftest import POOL, SLURM_CONF, pool_config, squeue
from tests.support.server import Server

HERE = Path(__file__).resolve().parent
FRAMEWORK_DIR = HERE.parent / "frameworks"
ON_POOL = {"resource_config.resource_type": "USER", "resource_config.resource_name": POOL}


def create(server: Server, name: str, cmd: str, nodes: int = 1, **changes: Any) -> int:
    return server.create(name, cmd, **{**ON_POOL, "resource_config.node_count": nodes,
                                       **changes})


def job_log(server: Server, job_id: int) -> str:
    return (server.data_dir / "jobs" / str(job_id) / "logs" / "job.log").read_text()


def all_logs(server: Server, job_id: int) -> str:
    logs = server.data_dir / "jobs" / str(job_id) / "logs"
    return "".join(p.read_text(errors="replace") for p in sorted(logs.rglob("*"))
                   if p.is_file())


@pytest.mark.parametrize("strategy", list(SCRIPTS))
def test_two_node_training_across_the_slurm_nodes(slurm_server: Callable[..., Server],
                                                  strategy: str) -> None:
    require(FRAMEWORKS[strategy])
    server = slurm_server()
    files = {name: (FRAMEWORK_DIR / name).read_text()
             for name in (SCRIPTS[strategy], "_result.py")}
    files["where.py"] = (HERE / "where.py").read_text()
    code = server.write_code(f"code/{strategy}", files)
    name = strategy.lower()
    job_id = create(server, name, f"python where.py {SCRIPTS[strategy]}", nodes=2, **{
        "train_config.code_path": code, "train_config.distribute_strategy": strategy})
    info = server.wait(job_id, timeout=240)
    logs = all_logs(server, job_id)
    assert info["train_status"] == "SUCCESSED", logs
    result = json.loads((server.pfs / "out" / name / "result.json").read_text())
    assert result == {"world_size": 2, "sum": 3.0}
    # each node's rank is Slurm's node id, on its own Slurm node, with node 0's address
    where = set(re.findall(r"where: node (\d) slurm-nodeid (\d) on (n\d) master (\S+)", logs))
    assert where == {("0", "0", "n1", "127.0.0.1"), ("1", "1", "n2", "127.0.0.1")}, logs
    assert "rank 0 of 2" in logs and "rank 1 of 2" in logs


def test_a_ccr_job_runs_in_docker_on_its_slurm_node(slurm_server: Callable[..., Server],
                                                     docker_host: str) -> None:
    server = slurm_server(env={"DOCKER_HOST": docker_host})
    job_id = create(server, "ccr", "cat /etc/os-release | head -1; python -c "
                    "'import os, sitecustomize; print(os.getcwd(), sitecustomize.__file__)'; "
                    "echo node $BML_NODE_RANK > $BML_OUTPUT_DIR/node-$BML_NODE_RANK",
                    nodes=2, **{"train_config.env_type": "CCR",
                                "train_config.distribute_strategy": "PytorchDDP",
                                "train_config.image": "/bmlocal/train",
                                "train_config.tag": "cpu"})
    info = server.wait(job_id, timeout=120)
    logs = all_logs(server, job_id)
    assert info["train_status"] == "SUCCESSED", logs
    assert "bookworm" in server.node_log(job_id, 0) and "/bml/code" in logs, logs
    # the PyTorch exit hook, where bmlocal's package is mounted in the container
    assert "/opt/bmlocal/lib/bmlocal/launchers/torch_exit/sitecustomize.py" in logs, logs
    for rank in (0, 1):
        out = server.pfs / "out" / "ccr" / f"node-{rank}"
        assert out.read_text() == f"node {rank}\n"


def test_stop_of_a_pending_and_a_running_slurm_job(slurm_server: Callable[..., Server]
                                                    ) -> None:
    server = slurm_server(config=pool_config("whole", extra="cpus_per_node = 2\n")
                          .replace("cpus_per_node = 1\n", "", 1))
    whole = {"resource_config.resource_name": "whole"}
    trap = "trap 'echo got TERM; exit 143' TERM; echo started; sleep 60 & wait $!"
    running = create(server, "running", trap, nodes=2, **whole)
    server.wait(running, "RUNNING", timeout=30)
    waiting = create(server, "waiting", "true", nodes=2, **whole)
    deadline = time.monotonic() + 20
    while not re.search(r"Slurm job \d+ PENDING \((Resources|Priority)\)",
                        server.detail(waiting).get("status_reason", "")):
        assert time.monotonic() < deadline, server.detail(waiting)
        time.sleep(0.1)
    assert server.detail(waiting)["train_status"] == "PENDING"
    server.ok("stop", {"id": waiting, "prjId": "p1"})
    assert server.wait(waiting, timeout=20)["train_status"] == "STOPPED"
    while "started" not in server.node_log(running, 1):
        time.sleep(0.05)
    began = time.monotonic()
    server.ok("stop", {"id": running, "prjId": "p1"})
    info = server.wait(running, timeout=30)
    assert info["train_status"] == "STOPPED", info
    assert time.monotonic() - began < 10  # the grace (3 s) and Slurm's wrap-up, not more
    # TERM reached every node. Slurm's proctrack/linuxproc signals the step's processes
    # deepest first (kill_tree.c builds its list by prepending): `sleep`, the shell, then the
    # supervisor, microseconds apart. Mostly the supervisor records the stop; on a loaded
    # machine the shell can end 143 and the supervisor finish before its TERM (seen in CI).
    for rank in (0, 1):
        ended = json.loads((server.data_dir / "jobs" / str(running) / "nodes" / str(rank)
                            / "exit.json").read_text())
        assert ended["stopped"] is True or ended["code"] == 143, ended
    slurm_ids = re.findall(r"Slurm job (\d+)", job_log(server, running))
    assert slurm_ids and squeue("--states=RUNNING,COMPLETING", "-j", slurm_ids[0]) == ""


def test_max_duration_is_enforced_within_a_second(slurm_server: Callable[..., Server]
                                                  ) -> None:
    server = slurm_server(hour_seconds=2)
    job_id = create(server, "long", "sleep 60")
    running = server.wait(job_id, "RUNNING", timeout=30)
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"] == "max duration exceeded (1 h)"
    seconds = info["run_time"] if "run_time" in info else None
    log = job_log(server, job_id)
    stamps = re.findall(r"\[(\S+ \S+)\] bmlocal: (RUNNING|ending)", log)
    times = {kind: time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S"))
             + float(stamp[19:]) for stamp, kind in stamps}
    assert 1.9 <= times["ending"] - times["RUNNING"] <= 3.0, (log, running, seconds)


def test_a_failing_node_is_named_with_its_slurm_node(slurm_server: Callable[..., Server]
                                                     ) -> None:
    server = slurm_server()
    job_id = create(server, "fail", 'if [ "$BML_NODE_RANK" = 1 ]; then exit 7; fi; sleep 60',
                    nodes=2)
    info = server.wait(job_id, timeout=60)
    assert info["train_status"] == "FAILED"
    assert re.fullmatch(r"node 1 exited with code 7: on Slurm node n2, Slurm job \d+ \w+.*",
                        info["status_reason"]), info["status_reason"]


def test_sbatch_refusals_fail_the_job_with_sbatchs_message(
        slurm_server: Callable[..., Server]) -> None:
    server = slurm_server(config=pool_config("nowhere").replace('"debug"', '"nosuch"')
                          + pool_config("three", nodes=3)
                          + pool_config("gpus", extra="gpus_per_node = 1\n"))
    cases = {"nowhere": "Invalid partition name specified",
             "three": "Node count specification invalid",
             "gpus": "Requested node configuration is not available"}
    jobs = {pool: create(server, pool, "true", nodes=3 if pool == "three" else 1,
                         **{"resource_config.resource_name": pool}) for pool in cases}
    for pool, message in cases.items():
        info = server.wait(jobs[pool], timeout=30)
        assert info["train_status"] == "FAILED"
        assert info["status_reason"].startswith("could not start: sbatch refused the job: "
                                                "sbatch: error:"), info["status_reason"]
        assert info["status_reason"].endswith(message), info["status_reason"]


def test_a_restarted_server_adopts_and_settles_slurm_jobs(slurm_server: Callable[..., Server]
                                                          ) -> None:
    server = slurm_server()
    wait_for_go = 'while [ ! -e "$BML_CODE_DIR/go" ]; do sleep 0.1; done; '
    adopted = create(server, "adopted", wait_for_go + "echo done", nodes=2)
    settled = create(server, "settled", wait_for_go + "exit 5")
    server.wait(adopted, "RUNNING", timeout=60)
    server.wait(settled, "RUNNING", timeout=60)
    server.stop(signal.SIGKILL)
    jobs = server.data_dir / "jobs"
    (jobs / str(settled) / "code" / "go").touch()  # it ends while no server runs
    exit_file = jobs / str(settled) / "nodes" / "0" / "exit.json"
    deadline = time.monotonic() + 30
    while not exit_file.exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    server.start()
    info = server.wait(settled, timeout=30)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"].startswith("node 0 exited with code 5: on Slurm node n"), info
    assert server.detail(adopted)["train_status"] == "RUNNING"
    (jobs / str(adopted) / "code" / "go").touch()  # the adopted job ends under the new server
    info = server.wait(adopted, timeout=30)
    assert info["train_status"] == "SUCCESSED", info
    assert server.node_log(adopted, 1) == "done\n"


def test_jobs_wait_while_the_controller_does_not_answer(slurm_server: Callable[..., Server],
                                                        tmp_path: Path) -> None:
    live = Path(SLURM_CONF).read_text()
    conf = tmp_path / "slurm.conf"  # the controller's port wrong: nothing answers there
    conf.write_text("MessageTimeout=1\n" + re.sub(r"SlurmctldPort=\d+", "SlurmctldPort=9",
                                                  live))
    server = slurm_server(config=pool_config("far").replace(SLURM_CONF, str(conf)))
    job_id = create(server, "waits", "echo ran", **{"resource_config.resource_name": "far"})
    deadline = time.monotonic() + 20
    while "Slurm does not answer" not in server.detail(job_id).get("status_reason", ""):
        assert time.monotonic() < deadline, server.detail(job_id)
        time.sleep(0.1)
    assert server.detail(job_id)["train_status"] == "PENDING"
    server.wait_log("pool USER/far: the Slurm controller does not answer")
    conf.write_text(live)  # the controller is back: the job runs, nothing was lost
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "SUCCESSED", info
    assert server.node_log(job_id) == "ran\n"


def test_a_node_that_cannot_see_the_job_directory_says_so(
        slurm_server: Callable[..., Server], tmp_path: Path) -> None:
    node_python = tmp_path / "python-without-shared-fs"
    server = slurm_server(config=pool_config("apart", extra=f'python = "{node_python}"\n'))
    node_python.write_text(  # this node's own mount of the data directory: an empty one
        f"#!/bin/sh\nexec unshare --mount sh -c 'mount -t tmpfs hidden {server.data_dir} && "
        f"exec {sys.executable} \"$@\"' sh \"$@\"\n")
    node_python.chmod(0o755)
    job_id = create(server, "apart", "true", **{"resource_config.resource_name": "apart"})
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "FAILED"
    assert "a Slurm node cannot see the job directory" in info["status_reason"], info


def test_a_public_pool_mapped_to_slurm_runs_there(slurm_server: Callable[..., Server]
                                                  ) -> None:
    server = slurm_server(config=pool_config("CPU_4C_16G"))
    job_id = server.create("public", "echo on $SLURMD_NODENAME")  # PUBLIC CPU_4C_16G
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "SUCCESSED", info
    assert server.node_log(job_id) == "on n1\n"
    assert "RUNNING: Slurm job" in job_log(server, job_id)
