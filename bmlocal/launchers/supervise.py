"""Process supervision for bmlocal's node agents (stdlib only: they run in the job's Python).

The agents' children stay in the node's process group, so that the executor's signal to
that group reaches every rank even if an agent is killed first."""
import argparse
import signal
import subprocess
import time
from typing import Callable

TICK_S = 0.2
KILL_GRACE_S = 10.0
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def exit_status(returncode: int) -> int:
    """A child's return code as a shell reports it (killed by signal N: 128 + N)."""
    return 128 - returncode if returncode < 0 else returncode


def terminate(procs: list[subprocess.Popen], grace: float = KILL_GRACE_S) -> None:
    """SIGTERM every live process, SIGKILL those still alive after `grace` seconds."""
    _signal_all(procs, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(TICK_S)
    _signal_all(procs, signal.SIGKILL)
    for p in procs:
        p.wait()


def _signal_all(procs: list[subprocess.Popen], sig: int) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)


def supervise(procs: list[subprocess.Popen],
              check: Callable[[], int | None] | None = None) -> tuple[int, int | None]:
    """Wait for `procs`. Returns (0, None) when all exit 0; else, after stopping the others,
    the first failure's status and the index of the process that failed (None when `check`,
    polled while nothing has failed, failed the node by returning a status).
    SIGTERM/SIGINT/SIGHUP are forwarded: the sender owns the grace period."""
    signalled: list[int] = []

    def forward(sig: int, _frame: object) -> None:
        signalled.append(sig)
        _signal_all(procs, sig)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    while True:
        codes = [p.poll() for p in procs]
        failed = [i for i, c in enumerate(codes) if c]
        if failed:
            terminate(procs)
            return exit_status(codes[failed[0]]), failed[0]
        if all(c == 0 for c in codes):
            return 0, None
        status = None if signalled or check is None else check()
        if status is not None:
            terminate(procs)
            return status, None
        time.sleep(TICK_S)


def parse_with_command(parser: argparse.ArgumentParser, argv: list[str] | None
                       ) -> argparse.Namespace:
    """An agent's options, then `-- COMMAND...` in `command`."""
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("no command after --")
    return args
