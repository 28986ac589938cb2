"""A restarted server keeps every job; after kill -9 it adopts the jobs that ran on."""
import json
import os
import signal
import sqlite3
import time

from tests.conftest import leftover_pids
from tests.support.server import Server

WAIT_FOR_FILE = "while [ ! -e $BML_OUTPUT_DIR/go ]; do sleep 0.05; done; echo finished; exit 5"


def test_jobs_and_their_states_survive_a_restart(server: Server) -> None:
    done = server.create("done", "true")
    server.wait(done)
    stopped = server.create("stopped", "sleep 30")
    server.wait(stopped, "RUNNING")
    server.ok("stop", {"id": stopped, "prjId": "p1"})
    server.wait(stopped)
    before = server.ok("list", {"prjId": "p1"})
    server.restart()
    assert server.ok("list", {"prjId": "p1"}) == before
    assert server.detail(done)["train_status"] == "SUCCESSED"
    assert server.error("create", {**before["items"][0], "prjId": "p1"})[0] == 406001


def test_kill_9_of_the_server_leaves_jobs_running_and_a_new_server_adopts_them(
        server: Server) -> None:
    job_id = server.create("survivor", WAIT_FOR_FILE, **{"resource_config.node_count": 2})
    server.wait(job_id, "RUNNING")
    server.stop(signal.SIGKILL)
    time.sleep(0.5)
    assert len(leftover_pids(server.data_dir)) >= 2  # the nodes ran on without the server
    server.start()
    assert server.detail(job_id)["train_status"] == "RUNNING"
    (server.pfs / "out" / "survivor" / "go").write_text("")
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"] in ("node 0 exited with code 5", "node 1 exited with code 5")
    assert "finished" in server.node_log(job_id, 0)
    assert leftover_pids(server.data_dir) == []


def test_a_job_that_ended_while_the_server_was_down_gets_its_real_end(
        server: Server) -> None:
    job_id = server.create("ends-alone", WAIT_FOR_FILE)
    server.wait(job_id, "RUNNING")
    server.stop(signal.SIGKILL)
    (server.pfs / "out" / "ends-alone" / "go").write_text("")
    deadline = time.monotonic() + 10
    while leftover_pids(server.data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    server.start()
    info = server.wait(job_id, timeout=10)
    assert info["status_reason"] == "node 0 exited with code 5"


def test_stop_and_max_duration_still_apply_to_an_adopted_job(make_server) -> None:
    server = make_server(grace_seconds=1, hour_seconds=4)
    job_id = server.create("adopted", "sleep 60", **{"resource_config.max_duration": 1})
    server.wait(job_id, "RUNNING")
    server.stop(signal.SIGKILL)
    server.start()
    info = server.wait(job_id, timeout=15)
    assert info["status_reason"] == "max duration exceeded (1 h)"
    assert leftover_pids(server.data_dir) == []


def test_a_reused_pid_is_not_mistaken_for_a_live_supervisor(server: Server) -> None:
    job_id = server.create("pid-reuse", "sleep 60")
    server.wait(job_id, "RUNNING")
    server.stop(signal.SIGKILL)
    state = server.data_dir / "jobs" / str(job_id) / "nodes" / "0"
    for pid in leftover_pids(server.data_dir):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    # Make the stored handle point at a live process that is not the supervisor.
    db = sqlite3.connect(server.data_dir / "bmlocal.db")
    (handle,) = db.execute("SELECT handle FROM nodes WHERE job_id=?", (job_id,)).fetchone()
    handle = json.loads(handle)
    handle["pid"] = os.getpid()
    db.execute("UPDATE nodes SET handle=? WHERE job_id=?", (json.dumps(handle), job_id))
    db.commit()
    db.close()
    server.start()
    info = server.wait(job_id, timeout=15)
    assert info["train_status"] == "FAILED"
    assert "lost" in info["status_reason"]
    assert not (state / "exit.json").exists()
