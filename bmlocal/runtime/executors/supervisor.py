"""The small process that runs one node: it outlives the server, owns the node's process
tree, forwards stop signals and records the exit code in the node's state directory.

Run as `python -m bmlocal.runtime.executors.supervisor STATE_DIR`; STATE_DIR/node.json holds
rank, argv, env, cwd, log_path, events_path, grace, cpu_set and memory_gb. It writes
child.json once the node runs and exit.json once nothing of the node runs any more. Only the
standard library is imported: it starts fast.
"""
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from bmlocal.runtime.executors import proc
from bmlocal.runtime.executors.cgroup import MemoryCgroup, Unavailable
from bmlocal.runtime.events import append_event

PR_SET_CHILD_SUBREAPER = 36


def write_json(path: Path, value: dict) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value))
    os.replace(partial, path)


def read_json(path: Path) -> dict:
    """A record written by write_json; {} when it is missing or not a JSON object."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def exit_code(record: dict) -> int | None:
    """The code of an exit record; None when there is none or it is not an integer (a
    node may have written over its record)."""
    code = record.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def become_subreaper() -> None:
    """Orphaned descendants are re-parented to us, so none escapes the tree we end."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Node:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.config = json.loads((state_dir / "node.json").read_text())
        self.stop_deadline: float | None = None
        self.child: subprocess.Popen | None = None
        self.cgroup: MemoryCgroup | None = None

    def start(self) -> int | None:
        """Start the node's command; an exit code if it could not start."""
        if self.stop_deadline is not None:
            return 128 + signal.SIGTERM
        if self.config.get("cpu_set"):
            os.sched_setaffinity(0, self.config["cpu_set"])
        self.limit_memory()
        with open(self.config["log_path"], "ab", buffering=0) as log:
            try:
                with self.cgroup.entered() if self.cgroup else nullcontext():
                    self.child = subprocess.Popen(
                        self.config["argv"], cwd=self.config["cwd"], env=self.config["env"],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True)
            except (OSError, subprocess.SubprocessError) as exc:
                log.write(f"bmlocal: cannot start {self.config['argv'][0]}: {exc}\n".encode())
                return 127
        write_json(self.state_dir / "child.json",
                   {"pid": self.child.pid, "start": proc.start_time(self.child.pid)})
        return None

    def limit_memory(self) -> None:
        gigabytes = self.config.get("memory_gb")
        if not gigabytes:
            return
        try:
            self.cgroup = MemoryCgroup.create(gigabytes * 2**30)
        except Unavailable as exc:
            append_event(self.config["events_path"], f"node {self.config['rank']}: memory is "
                                                     f"not limited to {gigabytes} GB: {exc}")

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of the node at its memory limit."""
        if self.cgroup is None:
            return False
        killed = self.cgroup.oom_kills() > 0
        self.cgroup.remove()
        return killed

    def on_stop_signal(self, signum: int, _frame: object) -> None:
        """SIGTERM to the whole tree now; SIGALRM (SIGKILL to it) after the grace."""
        if self.stop_deadline is None:
            grace = max(float(self.config["grace"]), 0.001)
            self.stop_deadline = time.monotonic() + grace
            self.signal_tree(signal.SIGTERM)
            signal.setitimer(signal.ITIMER_REAL, grace)

    def on_grace_over(self, signum: int, _frame: object) -> None:
        self.signal_tree(signal.SIGKILL)

    def signal_tree(self, sig: int) -> None:
        if self.child is not None:
            proc.signal_group(self.child.pid, sig)
        proc.signal_all(proc.descendants(os.getpid()), sig)

    def wait(self) -> int:
        """Block until the node's main process exits (signal handlers run meanwhile)."""
        assert self.child is not None
        code = self.child.wait()
        return 128 - code if code < 0 else code

    def end_stragglers(self) -> None:
        """Kill whatever the node left behind and reap it, until nothing is left."""
        while True:
            if not self.reap():  # no child: as a subreaper, then nothing below it runs
                break
            left = proc.descendants(os.getpid())
            if not left:
                break
            proc.signal_all(left, signal.SIGKILL)
            self.reap()
            time.sleep(0.02)
        self.reap()

    @staticmethod
    def reap() -> bool:
        """Reap what has ended; whether a child still runs."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True


def main(state_dir: str) -> int:
    node = Node(Path(state_dir))
    become_subreaper()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, node.on_stop_signal)
    signal.signal(signal.SIGALRM, node.on_grace_over)
    code = node.start()
    if code is None:
        code = node.wait()
    node.end_stragglers()
    write_json(node.state_dir / "exit.json",
               {"code": code, "stopped": node.stop_deadline is not None,
                "out_of_memory": node.out_of_memory()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
