"""Nodes as process groups on this machine, each under its own supervisor."""
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from bmlocal.runtime.executors import proc
from bmlocal.runtime.executors.base import (NODE_LOST, OUT_OF_MEMORY, Handle, JobPaths,
                                            NodeSpec)
from bmlocal.runtime.environment import host_environment
from bmlocal.runtime.executors.exits import ExitWatcher
from bmlocal.runtime.executors.forkserver import ForkServer, ForkServerError
from bmlocal.runtime.executors.supervisor import exit_code, read_json, write_json

log = logging.getLogger("bmlocal.process")

# Supervisors come from the fork server; where it fails, each is a new interpreter, started
# without `site` (-S) and runpy: that saves about a third of its start (site's .pth files,
# an editable install's finder).
PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
SUPERVISOR = (f"import sys; sys.path.insert(0, {PACKAGE_ROOT!r}); "
              "from bmlocal.runtime.executors.supervisor import main; sys.exit(main(sys.argv[1]))")


def cpu_set(cpus: float | None, spread: int) -> list[int] | None:
    """The cores a node with a cap of `cpus` may use, rotated so that nodes spread out;
    None when the cap is no smaller than the machine."""
    cores = sorted(os.sched_getaffinity(0))
    if not cpus or cpus >= len(cores):
        return None
    count = max(1, int(cpus))
    return sorted(cores[(spread + i) % len(cores)] for i in range(count))


def touch_log(path: Path) -> None:
    """The node's log exists from its start, even when a stop ends the supervisor before
    the supervisor could open it; a link planted there is not followed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o644))


class ProcessExecutor:
    name = "process"

    def __init__(self, on_exit: Callable[[int | None], None] | None = None,
                 forkserver: ForkServer | None = None) -> None:
        """`on_exit` is called with the node's job as soon as its supervisor ends (None for
        a node adopted from a handle that does not say)."""
        self.python = sys.executable
        self._spawned: dict[int, subprocess.Popen] = {}
        self._forkserver = forkserver or ForkServer()
        self._exits = ExitWatcher(on_exit) if on_exit else None

    def prepare(self) -> None:
        """Start the fork server before the first node needs it."""
        try:
            self._forkserver.start()
        except OSError as exc:  # tried again at the first node, which says why
            log.warning("the fork server did not start: %s", exc)

    def close(self) -> None:
        self._forkserver.close()

    def view(self, host: JobPaths) -> JobPaths:
        return host

    def base_env(self) -> dict[str, str]:
        return host_environment(self.python)

    def start(self, spec: NodeSpec) -> Handle:
        spec.state_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("child.json", "exit.json"):
            (spec.state_dir / stale).unlink(missing_ok=True)
        write_json(spec.state_dir / "node.json", {
            "rank": spec.rank, "argv": spec.argv, "env": spec.env, "cwd": spec.host_paths.code,
            "log_path": str(spec.log_path), "events_path": str(spec.events_path),
            "grace": spec.grace,
            "cpu_set": cpu_set(spec.cpus, spec.job_id + spec.rank),
            "memory_gb": spec.memory_gb})
        touch_log(spec.log_path)
        try:
            pid, start = self._forkserver.spawn(spec.state_dir)
        except (OSError, ValueError, ForkServerError) as exc:
            log.warning("the fork server failed (%s): a supervisor started on its own", exc)
            pid, start = self._start_supervisor(spec.state_dir)
        self._watch(pid, start, spec.job_id)
        return {"kind": self.name, "pid": pid, "start": start,
                "state_dir": str(spec.state_dir), "job": spec.job_id}

    def _start_supervisor(self, state_dir: Path) -> tuple[int, int | None]:
        with open(state_dir / "supervisor.err", "ab") as errors:
            supervisor = subprocess.Popen(
                [sys.executable, "-S", "-c", SUPERVISOR, str(state_dir)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                start_new_session=True)
        self._spawned[supervisor.pid] = supervisor
        return supervisor.pid, proc.start_time(supervisor.pid)

    def poll(self, handle: Handle) -> int | None:
        spawned = self._spawned.get(handle["pid"])
        if spawned is not None and spawned.poll() is None:
            return None
        if spawned is None and proc.alive(handle["pid"], handle["start"]):
            return None
        self._spawned.pop(handle["pid"], None)
        exit_file = Path(handle["state_dir"]) / "exit.json"
        if exit_file.exists():
            code = exit_code(self._exit(handle))
            return NODE_LOST if code is None else code
        self._kill_child(handle)
        return NODE_LOST

    def exit_note(self, handle: Handle) -> str:
        return OUT_OF_MEMORY if self._exit(handle).get("out_of_memory") else ""

    @staticmethod
    def _exit(handle: Handle) -> dict:
        return read_json(Path(handle["state_dir"]) / "exit.json")

    def stop(self, handle: Handle, grace: float) -> None:
        if proc.alive(handle["pid"], handle["start"]):
            proc.signal_all([handle["pid"]], signal.SIGTERM)

    def kill(self, handle: Handle) -> None:
        proc.kill_tree(handle["pid"], handle["start"])
        self._kill_child(handle)

    def adopt(self, handle: Handle) -> None:
        """The supervisor runs on; it is watched through /proc and its pidfd."""
        self._watch(handle["pid"], handle["start"], handle.get("job"))

    def _watch(self, pid: int, start: int | None, job_id: int | None) -> None:
        if self._exits is not None and start is not None:
            self._exits.watch(pid, start, job_id)

    def release(self, handle: Handle) -> None:
        """Nothing is left once the supervisor has exited."""

    @staticmethod
    def _kill_child(handle: Handle) -> None:
        """The node's own tree, when its supervisor is gone without ending it."""
        child = read_json(Path(handle["state_dir"]) / "child.json")
        if child.get("start") is not None and proc.alive(child["pid"], child["start"]):
            proc.signal_group(child["pid"], signal.SIGKILL)
            proc.kill_tree(child["pid"], child["start"])
