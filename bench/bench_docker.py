"""CCR start-up: create -> RUNNING and create -> first line of the job's output through
bmlocal's Docker executor, beside plain `docker run` of the same image, in the same run.

Needs a Docker engine (scripts/dockerd.sh start; eval "$(scripts/dockerd.sh env)") and
`make images`. Run: .venv/bin/python bench/bench_docker.py
"""
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import Server, job_body  # noqa: E402

IMAGE = "bmlocal/train:cpu"
COMMAND = "echo first-line; sleep 2"
RUNS = 10


def plain_docker_run() -> float:
    """Seconds from `docker run` to the first line on its stdout."""
    started = time.perf_counter()
    proc = subprocess.Popen(["docker", "run", "--rm", "--network", "host", IMAGE, "/bin/sh",
                             "-c", COMMAND], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - started
    proc.wait()
    return first


def bmlocal_run(server: Server, i: int) -> tuple[float, float]:
    """Seconds from create to RUNNING and to the first line in the node's log."""
    body = job_body(f"ccr-{i}", COMMAND, **{
        "train_config.env_type": "CCR", "train_config.image": "/bmlocal/train",
        "train_config.tag": "cpu", "train_config.distribute_strategy": "PytorchDDP"})
    started = time.perf_counter()
    job_id = server.ok("create", body)
    running = first = None
    log = server.data_dir / "jobs" / str(job_id) / "logs" / "node-0.log"
    while first is None:
        now = time.perf_counter() - started
        if running is None and server.detail(job_id)["train_status"] == "RUNNING":
            running = now
        if log.exists() and b"first-line" in log.read_bytes():
            first = now
    server.wait(job_id, timeout=60)
    return running or first, first


def main() -> None:
    plain, to_running, to_first = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), extra_args=["--executor", "docker"]).start()
        try:
            for i in range(RUNS):
                plain.append(plain_docker_run())
                running, first = bmlocal_run(server, i)
                to_running.append(running)
                to_first.append(first)
        finally:
            server.stop()
    base = statistics.median(plain)
    table = Table(title=f"CCR start-up, {IMAGE}, medians of {RUNS} (target: within 1.3x)")
    for column in ("measure", "median s", "ratio to docker run"):
        table.add_column(column)
    table.add_row("plain docker run -> first line", f"{base:.3f}", "1.00")
    table.add_row("bmlocal create -> RUNNING", f"{statistics.median(to_running):.3f}",
                  f"{statistics.median(to_running) / base:.2f}")
    table.add_row("bmlocal create -> first line", f"{statistics.median(to_first):.3f}",
                  f"{statistics.median(to_first) / base:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
