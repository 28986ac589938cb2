"""A pre-started process that forks node supervisors: a new interpreter for every node
costs 35-40 ms of CPU (mostly imports), a fork of one that has them loaded about 1 ms.

The fork server is a child of the bmlocal server, started without `site` like a supervisor
and importing only what a supervisor does. It reads one JSON request a line on its stdin
(the node's state directory) and answers one line on its stdout: the new supervisor's pid
and kernel start time, taken before the supervisor can be reaped, so that the pair always
names the process it forked. Each supervisor is in its own session, as when it was started
on its own, and outlives the fork server; the fork server reaps the supervisors that end
while it runs and exits once its stdin closes (the bmlocal server ended, `kill -9`
included). Only the standard library and bmlocal are imported here.
"""
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from pathlib import Path
from typing import IO, Callable

PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
START = (f"import sys; sys.path.insert(0, {PACKAGE_ROOT!r}); "
         "from bmlocal.runtime.executors.forkserver import main; main()")


class ForkServerError(RuntimeError):
    """The fork server could not fork a supervisor."""


class ForkServer:
    """The bmlocal server's end: `spawn` asks the fork server, starting it (again) as needed."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the fork server now rather than at the first node (it takes 40-50 ms)."""
        with self._lock:
            self._running()

    def spawn(self, state_dir: Path) -> tuple[int, int]:
        """A supervisor for the node whose files are in `state_dir`: its pid and start time."""
        with self._lock:
            try:
                return self._ask(state_dir)
            except (OSError, ValueError, ForkServerError):  # it died: a new one, once
                self._close()
                return self._ask(state_dir)

    def _ask(self, state_dir: Path) -> tuple[int, int]:
        process = self._running()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(json.dumps({"state_dir": str(state_dir)}).encode() + b"\n")
        process.stdin.flush()
        answer = json.loads(process.stdout.readline() or b"null")
        if not isinstance(answer, dict) or not all(
                isinstance(answer.get(key), int) for key in ("pid", "start")):
            raise ForkServerError(f"the fork server answered {answer!r}")
        return answer["pid"], answer["start"]

    def _running(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._close()
            self._process = subprocess.Popen([sys.executable, "-S", "-c", START],
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self._process

    def _close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        with self._lock:
            self._close()


# --- the fork server's own process ---------------------------------------------------------

def main() -> None:
    from bmlocal.runtime.executors import proc, supervisor  # loaded once, used by every fork
    # what every supervisor inherits stays out of its cyclic collector: a full collection in
    # a forked child writes to each object it visits, copying every page the fork shared
    # (1.4 ms of CPU a node)
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C ends the bmlocal server, then us
    signal.signal(signal.SIGCHLD, lambda *_: reap())
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    for line in requests:
        try:
            state_dir = str(json.loads(line)["state_dir"])
        except (ValueError, KeyError, TypeError):
            answer(answers, {"error": "a request is one JSON object with state_dir"})
            continue
        # SIGCHLD waits until the new supervisor's start time is read: reaped before that,
        # its pid could already name another process
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
        try:
            pid = os.fork()
            if pid == 0:
                become_supervisor(state_dir, supervisor.main)
            answer(answers, {"pid": pid, "start": proc.start_time(pid)})
        except OSError as exc:
            answer(answers, {"error": f"fork failed: {exc.strerror}"})
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGCHLD])


def answer(stream: IO[bytes], value: dict) -> None:
    stream.write(json.dumps(value).encode() + b"\n")
    stream.flush()


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def become_supervisor(state_dir: str, run: Callable[[str], int]) -> None:
    """In the forked child: what a supervisor started on its own would have (a session of
    its own, default signals, /dev/null for stdin and stdout, supervisor.err for stderr),
    then the supervisor itself; never returns. Its working directory is the node's state
    directory and its name `bml-supervisor`, so that `ps` and /proc tell which node it
    runs (its command line is the fork server's)."""
    code = 1
    try:
        os.setsid()
        state_dir = os.path.abspath(state_dir)
        os.chdir(state_dir)
        name_self("bml-supervisor")
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        null = os.open(os.devnull, os.O_RDWR)
        errors = os.open(os.path.join(state_dir, "supervisor.err"),
                         os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(errors, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        code = run(state_dir)
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    os._exit(code)


def name_self(name: str) -> None:
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(name)
    except OSError:  # a name for people only
        pass
