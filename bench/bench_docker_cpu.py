"""The server's own CPU while CCR jobs run: the committed tree (HEAD: container ends from the
engine's event stream) beside the same tree with the Docker executor of an earlier revision
(one inspect of each container every 50 ms tick), each idle and with 2 CCR jobs running, in
the same run. CPU is read from /proc/<pid>/stat of the server process (user + system time
over a window), medians of a few windows.

Needs a Docker engine (scripts/dockerd.sh start; eval "$(scripts/dockerd.sh env)") and
`make images`. Run: .venv/bin/python bench/bench_docker_cpu.py [--baseline REV]
(REV: default 23ea4bb^, whose executor polled each container).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.server import Server, job_body  # noqa: E402

LOOP = "while true; do sleep 1; done"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def cpu_percent(pid: int, window: float) -> float:
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    return 100 * (cpu_seconds(pid) - before) / (time.monotonic() - started)


EXECUTOR = "bmlocal/runtime/executors/docker.py"


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True,
                          check=True).stdout


@contextmanager
def tree_of(executor_revision: str | None) -> Iterator[Path]:
    """HEAD exported into a temporary directory; with the Docker executor of
    `executor_revision` where given (its constructor made to take today's extra argument)."""
    with tempfile.TemporaryDirectory(prefix="bmlocal-rev-") as tmp:
        subprocess.run(["tar", "-x", "-C", tmp], input=git("archive", "HEAD"), check=True)
        if executor_revision is not None:
            old = git("show", f"{executor_revision}:{EXECUTOR}").decode()
            old = old.replace('shm_size: str = "8g") -> None:',
                              'shm_size: str = "8g", *_: object) -> None:')
            (Path(tmp) / EXECUTOR).write_text(old)
        yield Path(tmp)


def measure(tree: Path, jobs: int, windows: int, window: float) -> list[float]:
    """CPU % of a server run from `tree` (its cwd: `python -m bmlocal.cli` imports from it)
    with `jobs` CCR jobs running."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tree)
        try:
            server = Server(Path(tmp), extra_args=["--executor", "docker"]).start()
        finally:
            os.chdir(here)
        ids: list[int] = []
        try:
            ids = [server.ok("create", job_body(f"loop-{i}", LOOP, **{
                "train_config.env_type": "CCR", "train_config.image": "/bmlocal/base",
                "train_config.tag": "bookworm",
                "train_config.distribute_strategy": "PytorchDDP"})) for i in range(jobs)]
            for job_id in ids:
                server.wait(job_id, "RUNNING", timeout=60)
            time.sleep(2)  # past the start-up's own work
            assert server.process is not None
            return [cpu_percent(server.process.pid, window) for _ in range(windows)]
        finally:
            for job_id in ids:
                server.ok("stop", {"id": job_id, "prjId": "p1"})
            for job_id in ids:
                server.wait(job_id, timeout=60)
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", default="23ea4bb^")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    table = Table(title=f"bmlocal server CPU %, medians of {args.windows} x {args.window:g} s")
    for column in ("server", "idle", "2 CCR jobs running", "ratio to polling (2 jobs)"):
        table.add_column(column)
    rows = {}
    for label, revision in ((f"polling ({args.baseline})", args.baseline),
                            ("events (HEAD)", None)):
        with tree_of(revision) as tree:
            rows[label] = [statistics.median(measure(tree, jobs, args.windows, args.window))
                           for jobs in (0, 2)]
    base = next(iter(rows.values()))[1]
    for label, (idle, busy) in rows.items():
        table.add_row(label, f"{idle:.1f}", f"{busy:.1f}", f"{busy / base:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
