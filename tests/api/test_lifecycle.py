"""A job's life through the API: running, ending, stop, delete, max_duration, logs."""
import time

from tests.conftest import leftover_pids
from tests.support.server import Server

TRAP_TERM = "trap 'echo got TERM; exit 7' TERM; echo started; while true; do sleep 0.1; done"
IGNORE_TERM = "trap '' TERM; echo started; while true; do sleep 0.1; done"


def wait_for_log(server: Server, job_id: int, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.node_log(job_id):
        assert time.monotonic() < deadline, server.node_log(job_id)
        time.sleep(0.05)


def test_a_job_runs_and_succeeds_with_its_outputs_and_logs(server: Server) -> None:
    code = server.write_code("code/hello", {"train.py": (
        "import os\n"
        "print('rank', os.environ['BML_NODE_RANK'], 'of', os.environ['BML_NODE_COUNT'])\n"
        "open(os.path.join(os.environ['BML_OUTPUT_DIR'], 'model.txt'), 'w').write('w')\n")})
    job_id = server.create("hello", "python train.py", **{
        "train_config.code_path": code, "resource_config.node_count": 2})
    info = server.wait(job_id)
    assert info["train_status"] == "SUCCESSED", info
    assert info["status_reason"] == "every node exited with code 0"
    assert "rank 0 of 2" in server.node_log(job_id, 0)
    assert "rank 1 of 2" in server.node_log(job_id, 1)
    out = server.pfs / "out" / "hello"
    assert (out / "model.txt").read_text() == "w"
    assert "rank 1 of 2" in (out / "logs" / "node-1.log").read_text()


def test_the_first_failing_node_fails_the_job_and_the_others_are_stopped(
        server: Server) -> None:
    cmd = ('if [ "$BML_NODE_RANK" = 1 ]; then exit 3; fi; ' + TRAP_TERM)
    job_id = server.create("fails", cmd, **{"resource_config.node_count": 2})
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"] == "node 1 exited with code 3"
    assert "got TERM" in server.node_log(job_id, 0)
    assert leftover_pids(server.data_dir) == []


def test_stop_a_running_job_sends_sigterm_then_the_job_is_stopped(server: Server) -> None:
    job_id = server.create("stoppable", TRAP_TERM)
    server.wait(job_id, "RUNNING")
    wait_for_log(server, job_id, "started")
    assert server.ok("stop", {"id": job_id, "prjId": "p1"}) is True
    assert server.ok("stop", {"id": job_id, "prjId": "p1"}) is True
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "STOPPED"
    assert info["status_reason"] == "stopped by user"
    assert "got TERM" in server.node_log(job_id)
    assert server.error("stop", {"id": job_id, "prjId": "p1"}) == (406027,
                                                                    "job status exception")


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(make_server) -> None:
    server = make_server(grace_seconds=1)
    job_id = server.create("stubborn", IGNORE_TERM + " & " + IGNORE_TERM + "; wait")
    server.wait(job_id, "RUNNING")
    wait_for_log(server, job_id, "started")
    asked = time.monotonic()
    server.ok("stop", {"id": job_id, "prjId": "p1"})
    info = server.wait(job_id, timeout=30)
    took = time.monotonic() - asked
    assert info["train_status"] == "STOPPED"
    assert 1.0 <= took < 5, took
    assert leftover_pids(server.data_dir) == []


def test_a_job_is_not_marked_ended_while_a_process_of_it_runs(make_server) -> None:
    server = make_server(grace_seconds=2)
    # The main process exits at once on TERM, a background child lingers through the grace.
    job_id = server.create("linger", "(trap '' TERM; sleep 30) & " + TRAP_TERM)
    server.wait(job_id, "RUNNING")
    wait_for_log(server, job_id, "started")
    server.ok("stop", {"id": job_id, "prjId": "p1"})
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "STOPPED"
    assert leftover_pids(server.data_dir) == []


def test_max_duration_fails_the_job_within_a_second(make_server) -> None:
    server = make_server(hour_seconds=3, grace_seconds=1)
    job_id = server.create("slow", TRAP_TERM, **{"resource_config.max_duration": 1})
    server.wait(job_id, "RUNNING")
    started = time.monotonic()
    info = server.wait(job_id, timeout=30)
    took = time.monotonic() - started
    assert info["train_status"] == "FAILED"
    assert info["status_reason"] == "max duration exceeded (1 h)"
    assert 2.8 <= took <= 4.0, took
    assert 60 <= info["run_time"] <= 80, info  # a minute is 1/60 of one 3-second hour
    events = (server.data_dir / "jobs" / str(job_id) / "logs" / "job.log").read_text()
    assert "max duration exceeded" in events


def test_stop_of_a_queued_job_is_immediate_and_it_never_runs(make_server) -> None:
    server = make_server(config="[scheduler]\ncpu_slots = 1\n")
    blocker = server.create("blocker", TRAP_TERM)
    server.wait(blocker, "RUNNING")
    queued = server.create("queued", "echo should-not-run")
    time.sleep(0.5)
    assert server.detail(queued)["train_status"] == "PENDING"
    server.ok("stop", {"id": queued, "prjId": "p1"})
    assert server.detail(queued)["train_status"] == "STOPPED"
    server.ok("stop", {"id": blocker, "prjId": "p1"})
    server.wait(blocker)
    time.sleep(0.5)
    assert server.node_log(queued) == ""


def test_delete_semantics(server: Server) -> None:
    job_id = server.create("deletable", TRAP_TERM)
    server.wait(job_id, "RUNNING")
    assert server.error("delete", {"id": job_id, "prjId": "p1"}) == (406014,
                                                                      "job can not delete")
    server.ok("stop", {"id": job_id, "prjId": "p1"})
    server.wait(job_id)
    total_before = server.ok("list", {"prjId": "p1"})["total"]
    assert server.ok("delete", {"id": job_id, "prjId": "p1"}) is True
    for method in ("detail", "stop", "delete"):
        assert server.error(method, {"id": job_id, "prjId": "p1"})[0] == 406012
    assert server.ok("list", {"prjId": "p1"})["total"] == total_before - 1
    assert (server.pfs / "out" / "deletable" / "logs" / "node-0.log").exists()
    again = server.create("deletable", "true")  # the name is free again
    assert again != job_id


def test_list_is_newest_first_and_paged(server: Server) -> None:
    ids = [server.create(f"j{i}", "true") for i in range(5)]
    page = server.ok("list", {"prjId": "p1", "start": 1, "num": 2})
    assert page["total"] == 5
    assert [item["id"] for item in page["items"]] == [ids[3], ids[2]]
    item = page["items"][0]
    assert set(item) == {"id", "name", "description", "train_status", "run_time",
                         "resource_type", "resource_name", "framework", "create_time"}
    assert server.ok("list", {"prjId": "other"}) == {"total": 0, "items": []}
    assert len(server.ok("list", {"prjId": "p1", "num": 100})["items"]) == 5
    assert server.error("list", {"prjId": "p1", "num": 101}) == (406001, "param[num] invalid")


def test_jobs_of_another_project_do_not_exist(server: Server) -> None:
    job_id = server.create("mine", "true")
    assert server.error("detail", {"id": job_id, "prjId": "p2"}) == (406012,
                                                                      "job does not exist")


def test_detail_has_every_field_of_the_seed(server: Server) -> None:
    job_id = server.create("full", "true", **{"train_config.distribute_strategy": "PytorchDDP",
                                              "resource_config.cpu_num": 2,
                                              "resource_config.memory": 4})
    info = server.wait(job_id)
    assert {"id", "name", "description", "train_status", "run_time", "create_time",
            "train_config", "resource_config", "dataset_config"} <= set(info)
    assert {"code_path", "start_cmd", "output_path", "framework", "env_type", "image", "tag",
            "distribute_strategy", "repository_id", "trainset_path",
            "evalset_path"} <= set(info["train_config"])
    assert {"node_count", "resource_name", "max_duration", "gpu_type", "gpu_num", "cpu_num",
            "memory", "rdma"} <= set(info["resource_config"])
    assert {"trainset_path", "evalset_path"} <= set(info["dataset_config"])
    assert info["train_config"]["framework"] == "PyTorch"
    assert info["resource_config"]["cpu_num"] == "2"  # a string in detail (the seed)
    assert info["resource_config"]["memory"] == 4
    assert abs(info["create_time"] - time.time()) < 60
