"""What the fault tests inject faults with: a Docker engine of their own (never the shared
one, which other tests use), a small tmpfs, and the record of each fault's outcome that
bench/bench_faults.py prints as a table."""
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.report import append_row
from tests.support.require import missing
from tests.support.server import TERMINAL, Server

RUN_DIR = Path("/run/bmlocal-faults")
DATA_ROOT = Path("/var/lib/bmlocal-faults/docker")  # kept: the image is loaded once
IMAGE = "bmlocal/base:bookworm"
SHARED_ENGINE = "unix:///run/bmlocal-ci/docker.sock"
REPORT = "BMLOCAL_FAULTS_REPORT"  # a file: one JSON line per fault outcome


@dataclass
class OwnEngine:
    """A second dockerd on its own socket, data root and exec root; stopped and started by
    the tests that need an engine to go away."""

    @property
    def socket(self) -> Path:
        return RUN_DIR / "docker.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def pid(self) -> int | None:
        try:
            pid = int((RUN_DIR / "docker.pid").read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        if self.ping():
            return
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        DATA_ROOT.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        with open(RUN_DIR / "dockerd.log", "ab") as log:
            subprocess.Popen(
                ["dockerd", f"--host={self.host}", f"--data-root={DATA_ROOT}",
                 f"--exec-root={RUN_DIR / 'exec'}", f"--pidfile={RUN_DIR / 'docker.pid'}",
                 "--bridge=none", "--iptables=false", "--ip6tables=false",
                 "--storage-driver=overlay2", "--shutdown-timeout=1"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 60
        while not self.ping():
            assert time.monotonic() < deadline, "own dockerd did not answer within 60 s"
            time.sleep(0.1)

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists():
            try:  # this process may be its parent: reap it
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            assert time.monotonic() < deadline, "own dockerd did not stop within 60 s"
            time.sleep(0.1)

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT) the engine: it keeps its socket and answers nothing."""
        pid = self.pid()
        assert pid is not None, "own dockerd is not running"
        os.kill(pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    def ping(self) -> bool:
        done = subprocess.run(["curl", "-fsS", "--max-time", "2", "--unix-socket",
                               str(self.socket), "http://localhost/_ping"],
                              capture_output=True, text=True)
        return done.stdout == "OK"

    def docker(self, *args: str, host: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "DOCKER_HOST": host or self.host})

    def ensure_image(self) -> None:
        """The image the CCR jobs use, loaded from the shared engine once."""
        if self.docker("image", "inspect", IMAGE).returncode == 0:
            return
        saved = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE,
                                 env={**os.environ, "DOCKER_HOST": SHARED_ENGINE})
        loaded = subprocess.run(["docker", "load"], stdin=saved.stdout, capture_output=True,
                                env={**os.environ, "DOCKER_HOST": self.host}, timeout=300)
        saved.wait(timeout=60)
        if loaded.returncode != 0:
            missing("DOCKER", f"{IMAGE} could not be loaded from the shared engine: run "
                              "`make images`")

    def remove_containers(self) -> None:
        ids = self.docker("ps", "-aq", "--filter", "label=bmlocal.job").stdout.split()
        if ids:
            self.docker("rm", "-f", *ids)


def tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        missing("MOUNT", f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def lost(server: Server, jobs: list[int], deleted: tuple[int, ...] = ()) -> int:
    """Jobs that did not end, or that are gone without having been deleted."""
    count = 0
    for job_id in jobs:
        payload = server.call("detail", {"id": job_id, "prjId": "p1"})
        if job_id in deleted:
            count += payload.get("error_code") != 406012
        else:
            count += payload.get("result", {}).get("train_status") not in TERMINAL
    return count


def record(fault: str, injected: str, jobs: int, lost_jobs: int, outcome: str) -> None:
    """One row of the faults table (written only where bench_faults.py asks for it)."""
    append_row(REPORT, {"fault": fault, "injected": injected, "jobs": jobs,
                        "lost": lost_jobs, "outcome": outcome})


def wait_for(check, timeout: float = 60, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(every)
