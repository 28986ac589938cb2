"""The fork server: supervisors forked from a pre-started process behave as supervisors
started on their own (own session, own state directory, exit record, no straggler left),
it comes back after it dies, it ends with the bmlocal server and its supervisors do not;
the exit watcher calls back as soon as a supervisor ends."""
import json
import os
import queue
import signal
import threading
import time
from pathlib import Path

from bmlocal.runtime.executors import proc
from bmlocal.runtime.executors.base import JobPaths, NodeSpec
from bmlocal.runtime.executors.exits import ExitWatcher
from bmlocal.runtime.executors.forkserver import ForkServer, ForkServerError
from bmlocal.runtime.executors.process import ProcessExecutor
from bmlocal.runtime.executors.supervisor import read_json


def node_dir(tmp_path: Path, command: str, name: str = "node") -> Path:
    state = tmp_path / name
    state.mkdir()
    (state / "node.json").write_text(json.dumps({
        "rank": 0, "argv": ["/bin/sh", "-c", command], "env": {"PATH": os.environ["PATH"]},
        "cwd": str(tmp_path), "log_path": str(state / "node.log"),
        "events_path": str(state / "job.log"), "grace": 1, "cpu_set": None,
        "memory_gb": None}))
    return state


def wait_gone(pid: int, start: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while proc.alive(pid, start):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.01)


def test_a_forked_supervisor_runs_its_node_in_a_session_of_its_own(tmp_path: Path) -> None:
    forks = ForkServer()
    try:
        state = node_dir(tmp_path, "echo ran; exit 3")
        pid, start = forks.spawn(state)
        assert proc.start_time(pid) in (start, None)  # None: it ended and was reaped
        wait_gone(pid, start)
        assert read_json(state / "exit.json") == {"code": 3, "stopped": False,
                                                  "out_of_memory": False}
        assert (state / "node.log").read_text() == "ran\n"
    finally:
        forks.close()


def test_a_forked_supervisor_is_named_and_works_in_its_node_directory(tmp_path: Path) -> None:
    forks = ForkServer()
    try:
        state = node_dir(tmp_path, "sleep 30")
        pid, start = forks.spawn(state)
        deadline = time.monotonic() + 10
        while not (state / "child.json").exists():  # the node runs: the set-up is done
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert os.getsid(pid) == pid
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "bml-supervisor"
        assert os.readlink(f"/proc/{pid}/cwd") == str(state)
        os.kill(pid, signal.SIGTERM)
        wait_gone(pid, start)
        assert read_json(state / "exit.json")["stopped"] is True
    finally:
        forks.close()


def test_nothing_of_a_node_outlives_its_supervisor(tmp_path: Path) -> None:
    """The node's main process ends at once, leaving a daemon in a session of its own: the
    supervisor kills it before it records the exit."""
    forks = ForkServer()
    try:
        state = node_dir(tmp_path, "setsid sleep 300 & echo $! > daemon.pid; exit 0")
        pid, start = forks.spawn(state)
        wait_gone(pid, start)
        daemon = int((tmp_path / "daemon.pid").read_text())
        assert read_json(state / "exit.json")["code"] == 0
        assert not Path(f"/proc/{daemon}").exists()  # killed and reaped by the supervisor
    finally:
        forks.close()


def test_a_dead_fork_server_is_started_again(tmp_path: Path) -> None:
    forks = ForkServer()
    try:
        first, start = forks.spawn(node_dir(tmp_path, "true", "a"))
        server = forks._process  # noqa: SLF001
        assert server is not None
        server.kill()
        server.wait()
        second, start = forks.spawn(node_dir(tmp_path, "true", "b"))
        wait_gone(second, start)
        assert read_json(tmp_path / "b" / "exit.json")["code"] == 0
        assert forks._process is not server  # noqa: SLF001
    finally:
        forks.close()


def test_the_fork_server_ends_with_bmlocal_and_its_supervisors_run_on(tmp_path: Path) -> None:
    forks = ForkServer()
    state = node_dir(tmp_path, "sleep 30")
    pid, start = forks.spawn(state)
    server = forks._process  # noqa: SLF001
    assert server is not None
    forks.close()  # as when the bmlocal server ends: the fork server's stdin closes
    assert server.returncode == 0
    assert proc.alive(pid, start)
    os.kill(pid, signal.SIGTERM)
    wait_gone(pid, start)
    assert read_json(state / "exit.json")["stopped"] is True


def test_the_exit_watcher_calls_back_with_the_key_of_the_process_that_ended() -> None:
    ended: queue.Queue[int] = queue.Queue()
    watcher = ExitWatcher(ended.put)
    children = {}
    for key, seconds in ((7, 0.3), (8, 60)):
        child = os.fork()
        if child == 0:
            time.sleep(seconds)
            os._exit(0)
        start = proc.start_time(child)
        assert start is not None
        watcher.watch(child, start, key)
        children[key] = child
    assert ended.empty()
    os.waitpid(children[7], 0)
    assert ended.get(timeout=5) == 7
    os.kill(children[8], signal.SIGKILL)
    os.waitpid(children[8], 0)
    assert ended.get(timeout=5) == 8
    assert not watcher._watched  # noqa: SLF001 - every pidfd let go


def test_the_exit_watcher_calls_back_at_once_for_a_process_gone_or_replaced() -> None:
    ended: queue.Queue[str] = queue.Queue()
    watcher = ExitWatcher(ended.put)
    me = os.getpid()
    watcher.watch(me, (proc.start_time(me) or 0) + 1, "mine")  # this pid, another process
    assert ended.get_nowait() == "mine"
    assert not watcher._watched  # noqa: SLF001 - no pidfd kept for it


class BrokenForkServer(ForkServer):
    def spawn(self, state_dir: Path) -> tuple[int, int]:
        raise ForkServerError("the fork server answered None")


def test_without_a_fork_server_a_supervisor_starts_on_its_own(tmp_path: Path) -> None:
    ended = threading.Event()
    executor = ProcessExecutor(on_exit=lambda job_id: ended.set(), forkserver=BrokenForkServer())
    paths = JobPaths(str(tmp_path), str(tmp_path), str(tmp_path))
    spec = NodeSpec(1, 0, ["/bin/sh", "-c", "echo alone"], {"PATH": os.environ["PATH"]}, paths,
                    tmp_path / "node-0.log", tmp_path / "job.log", tmp_path / "state", 1.0)
    handle = executor.start(spec)
    assert ended.wait(10)
    deadline = time.monotonic() + 10
    while (code := executor.poll(handle)) is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert code == 0
    assert (tmp_path / "node-0.log").read_text() == "alone\n"
