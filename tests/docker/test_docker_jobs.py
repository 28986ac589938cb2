"""CCR jobs as containers on a real Docker engine."""
import json
import os
import signal
import sys
import time

import pytest

from tests.conftest import containers_of
from tests.support.server import Server, job_body

pytestmark = pytest.mark.usefixtures("docker_client")
TRAP_TERM = "trap 'echo got TERM; exit 7' TERM; echo started; while true; do sleep 0.1; done"


def ccr(name: str, cmd: str, image: str = "/bmlocal/base", tag: str = "bookworm",
        strategy: str = "PytorchDDP", **changes) -> dict:
    return job_body(name, cmd, **{"train_config.env_type": "CCR", "train_config.image": image,
                                  "train_config.tag": tag,
                                  "train_config.distribute_strategy": strategy, **changes})


def wait_for_log(server: Server, job_id: int, text: str, rank: int = 0) -> None:
    deadline = time.monotonic() + 60
    while text not in server.node_log(job_id, rank):
        assert time.monotonic() < deadline, server.node_log(job_id, rank)
        time.sleep(0.1)


def test_a_ccr_job_runs_in_its_image_with_the_bml_paths(make_server) -> None:
    server = make_server()
    server.write_code("code/c", {"main.sh": "echo code=$BML_CODE_DIR out=$BML_OUTPUT_DIR; "
                                            "cat /etc/debian_version; touch $BML_OUTPUT_DIR/f"})
    server.write_code("data/d", {"a.txt": "1"})
    job_id = server.ok("create", ccr("in-image", "sh main.sh && ls $BML_TRAINSET_DIR", **{
        "train_config.code_path": "/code/c", "dataset_config.trainset_UrlSource": "PFS",
        "dataset_config.trainset_path": "/data/d"}))
    info = server.wait(job_id, timeout=120)
    assert info["train_status"] == "SUCCESSED", server.node_log(job_id)
    log = server.node_log(job_id)
    assert "code=/bml/code out=/bml/output" in log and "a.txt" in log
    out = server.pfs / "out" / "in-image" / "f"
    assert (out.stat().st_uid, out.stat().st_gid) == (os.getuid(), os.getgid())
    assert containers_of(server) == []


def test_two_nodes_are_two_containers_labelled_with_job_and_node(
        make_server, docker_client) -> None:
    server = make_server()
    job_id = server.ok("create", ccr("two", TRAP_TERM, **{"resource_config.node_count": 2}))
    server.wait(job_id, "RUNNING", timeout=120)
    wait_for_log(server, job_id, "started", 1)
    labels = sorted((c.labels["bmlocal.job"], c.labels["bmlocal.node"])
                    for c in containers_of(server))
    assert labels == [(str(job_id), "0"), (str(job_id), "1")]
    server.ok("stop", {"id": job_id, "prjId": "p1"})
    info = server.wait(job_id, timeout=60)
    assert info["train_status"] == "STOPPED"
    assert "got TERM" in server.node_log(job_id, 0)
    assert containers_of(server) == []


def test_a_container_that_ignores_sigterm_is_killed_after_the_grace(make_server) -> None:
    server = make_server(grace_seconds=2)
    job_id = server.ok("create", ccr("stubborn", "trap '' TERM; echo started; sleep 600"))
    wait_for_log(server, job_id, "started")
    asked = time.monotonic()
    server.ok("stop", {"id": job_id, "prjId": "p1"})
    assert server.wait(job_id, timeout=60)["train_status"] == "STOPPED"
    assert 2 <= time.monotonic() - asked < 10
    assert containers_of(server) == []


def test_max_duration_ends_a_container_job(make_server) -> None:
    server = make_server(hour_seconds=4, grace_seconds=1)
    job_id = server.ok("create", ccr("timeout", TRAP_TERM))
    info = server.wait(job_id, timeout=60)
    assert info["status_reason"] == "max duration exceeded (1 h)"
    assert containers_of(server) == []


def test_a_failing_node_fails_the_job_and_stops_the_other(make_server) -> None:
    server = make_server()
    cmd = 'if [ "$BML_NODE_RANK" = 1 ]; then exit 4; fi; ' + TRAP_TERM
    job_id = server.ok("create", ccr("fails", cmd, **{"resource_config.node_count": 2}))
    info = server.wait(job_id, timeout=60)
    assert info["status_reason"] == "node 1 exited with code 4"
    assert containers_of(server) == []


def test_a_missing_image_fails_the_job_at_once_naming_it(make_server) -> None:
    server = make_server()
    job_id = server.ok("create", ccr("no-image", "true", image="/nobody/nothing", tag="v9"))
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "FAILED"
    assert "nobody/nothing:v9" in info["status_reason"]


def test_kill_9_of_the_server_adopts_live_containers_and_records_ended_ones(
        make_server) -> None:
    server = make_server()
    running = server.ok("create", ccr("live", TRAP_TERM))
    ending = server.ok("create", ccr(
        "ends", "while [ ! -e $BML_OUTPUT_DIR/go ]; do sleep 0.1; done; exit 6"))
    wait_for_log(server, running, "started")
    # The log can show before the job is stored as RUNNING; a kill in that gap is
    # a start cut short, which queues the job again instead of adopting it.
    server.wait(running, "RUNNING", timeout=60)
    server.wait(ending, "RUNNING", timeout=60)
    server.stop(signal.SIGKILL)
    (server.pfs / "out" / "ends" / "go").write_text("")
    time.sleep(2)
    server.start()
    assert server.wait(ending, timeout=30)["status_reason"] == "node 0 exited with code 6"
    assert server.detail(running)["train_status"] == "RUNNING"
    server.ok("stop", {"id": running, "prjId": "p1"})
    assert server.wait(running, timeout=60)["train_status"] == "STOPPED"
    assert containers_of(server) == []


def test_an_orphan_container_is_removed_when_the_server_starts(make_server,
                                                               docker_client) -> None:
    server = make_server()
    docker_client.containers.run("bmlocal/base:bookworm", ["sleep", "600"], detach=True,
                                 labels={"bmlocal.job": "999", "bmlocal.node": "0",
                                         "bmlocal.instance": str(server.data_dir)})
    server.restart()
    assert containers_of(server) == []


def test_default_jobs_still_run_as_processes(make_server) -> None:
    server = make_server()
    job_id = server.create("host", "python -c 'import sys; print(sys.prefix)'")
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    assert server.node_log(job_id).strip() == sys.prefix


def test_container_limits_and_shm(make_server, docker_client) -> None:
    server = make_server()
    job_id = server.ok("create", ccr("limits", "df -m /dev/shm | tail -1; sleep 600", **{
        "resource_config.cpu_num": 1, "resource_config.memory": 2}))
    wait_for_log(server, job_id, "/dev/shm")
    (container,) = containers_of(server)
    host_config = container.attrs["HostConfig"]
    assert host_config["NanoCpus"] == 1_000_000_000
    assert host_config["Memory"] == 2 * 2**30
    assert host_config["NetworkMode"] == "host"
    assert host_config["ShmSize"] >= 2 * 2**30
    server.ok("stop", {"id": job_id, "prjId": "p1"})
    server.wait(job_id, timeout=60)


def test_a_container_over_its_memory_is_killed_and_the_reason_says_so(make_server) -> None:
    server = make_server()
    job_id = server.ok("create", ccr(
        "hog", "python -c 'b = bytearray(3 * 2**30)'", image="/bmlocal/train", tag="cpu",
        **{"resource_config.memory": 1}))
    info = server.wait(job_id, timeout=120)
    assert info["train_status"] == "FAILED"  # torchrun's code, 1, for its worker killed
    assert info["status_reason"] == "node 0 exited with code 1: killed at its memory limit (1 GB)"
    assert containers_of(server) == []


@pytest.mark.parametrize("strategy,script", [("PytorchDDP", "ddp_allreduce.py"),
                                             ("PaddleFleet", "paddle_allreduce.py"),
                                             ("Horovod", "hvd_allreduce.py")])
def test_each_strategy_across_two_containers(make_server, strategy: str, script: str) -> None:
    server = make_server()
    frameworks = os.path.join(os.path.dirname(__file__), "..", "frameworks")
    files = {name: open(os.path.join(frameworks, name)).read()
             for name in (script, "_result.py")}
    server.write_code(f"code/{strategy}", files)
    job_id = server.ok("create", ccr(strategy.lower(), f"python {script}", image="/bmlocal/train",
                                     tag="cpu", strategy=strategy, **{
                                         "train_config.code_path": f"/code/{strategy}",
                                         "resource_config.node_count": 2}))
    info = server.wait(job_id, timeout=300)
    assert info["train_status"] == "SUCCESSED", server.node_log(job_id) + server.node_log(
        job_id, 1)
    result = json.loads((server.pfs / "out" / strategy.lower() / "result.json").read_text())
    assert result == {"world_size": 2, "sum": 3.0}
    assert containers_of(server) == []


def test_a_pytorch_node_in_its_container_runs_with_the_exit_hook(make_server) -> None:
    server = make_server()
    script = ("import sitecustomize; "
              "from torch.distributed.elastic.multiprocessing import tail_log; "
              "print(sitecustomize.__file__, tail_log.tail_logfile.__module__)")
    job_id = server.ok("create", ccr("hooked", f'python -c "{script}"', image="/bmlocal/train",
                                     tag="cpu"))
    info = server.wait(job_id, timeout=300)
    assert info["train_status"] == "SUCCESSED", server.node_log(job_id)
    hook = "/opt/bmlocal/lib/bmlocal/launchers/torch_exit/sitecustomize.py"
    assert f"[node 0 rank 0] {hook} sitecustomize" in server.node_log(job_id)
