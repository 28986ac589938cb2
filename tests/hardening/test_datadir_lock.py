"""Two servers on one data directory would both run the same jobs: the second refuses."""
import signal
import subprocess
import sys
from typing import Callable

from tests.support.server import Server, free_port


def second_server(first: Server) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bmlocal.cli", "serve", "--port", str(free_port()),
         "--data-dir", str(first.data_dir), "--pfs-root", str(first.pfs)],
        capture_output=True, text=True, timeout=60)


def test_a_second_server_on_the_same_data_dir_refuses_naming_the_first(
        make_server: Callable[..., Server]) -> None:
    first = make_server()
    assert first.process is not None
    done = second_server(first)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"in use by another bmlocal server (pid {first.process.pid})" in done.stderr
    job = first.create("still-served")  # the first one goes on untouched
    assert first.wait(job)["train_status"] == "SUCCESSED"


def test_the_lock_goes_with_a_killed_server(make_server: Callable[..., Server]) -> None:
    first = make_server()
    job = first.create("before", "sleep 1")
    first.stop(signal.SIGKILL)
    first.start()  # same data directory: the kernel released the lock with the process
    assert first.wait(job, timeout=60)["train_status"] == "SUCCESSED"
