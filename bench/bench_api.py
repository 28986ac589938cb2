"""API benchmark: create -> RUNNING and create -> first line of output for a trivial job,
detail and list latency with 10,000 jobs stored, and detail requests per second at
concurrency 16.

Run: .venv/bin/python bench/bench_api.py   (a real server on a free port, temporary dirs)
"""
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import requests
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bmlocal.runtime.spec import JobSpec  # noqa: E402
from bmlocal.runtime.status import Status  # noqa: E402
from bmlocal.runtime.store import Store  # noqa: E402
from tests.support.server import BASE, Server, job_body  # noqa: E402

STORED = 10_000


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def create_until(server: Server, name: str, command: str, method: str,
                 seen: Callable[[dict], bool], runs: int = 40) -> list[float]:
    """create -> the first answer of `method` (detail, logs) that `seen` accepts."""
    session, latencies = requests.Session(), []

    def call(method: str, body: dict) -> dict:
        return session.post(f"{server.url}{BASE}/{method}", params={"access_token": "t"},
                            json=body).json()

    for i in range(runs):
        started = time.perf_counter()
        job_id = call("create", job_body(f"{name}-{i}", command))["result"]
        while not seen(call(method, {"id": job_id, "prjId": "p1"}).get("result", {})):
            pass
        latencies.append((time.perf_counter() - started) * 1000)
        call("stop", {"id": job_id, "prjId": "p1"})
        server.wait(job_id, timeout=60)
    return latencies


def create_to_running(server: Server) -> list[float]:
    return create_until(server, "lat", "sleep 5", "detail",
                        lambda result: result.get("train_status") == "RUNNING")


def create_to_first_line(server: Server) -> list[float]:
    """create -> the job's first line of output, read through the `logs` call."""
    return create_until(server, "line", "echo ready; sleep 5", "logs",
                        lambda result: bool(result.get("content")))


def store_jobs(data_dir: Path, count: int) -> list[int]:
    """Jobs that already ended, written straight into the database."""
    store = Store(data_dir / "bmlocal.db")
    ids = []
    for i in range(count):
        spec = JobSpec(project="bench", name=f"stored-{i}", description="stored",
                       env_type="DEFAULT", output_source="PFS", output_path=f"/out/{i}",
                       code_source="PFS", start_cmd="true", node_count=1,
                       resource_name="CPU_4C_16G", max_duration=1)
        job_id = store.create(spec, time.time(), None)
        store.move(job_id, Status.PENDING, Status.STOPPED, status_reason="stored")
        ids.append(job_id)
    return ids


def timed_calls(server: Server, method: str, bodies: list[dict]) -> list[float]:
    session, latencies = requests.Session(), []
    for body in bodies:
        started = time.perf_counter()
        payload = session.post(f"{server.url}{BASE}/{method}", params={"access_token": "t"},
                               json=body).json()
        latencies.append((time.perf_counter() - started) * 1000)
        assert "result" in payload, payload
    return latencies


def detail_rps(server: Server, ids: list[int], seconds: float = 5, threads: int = 16
               ) -> float:
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        session = requests.Session()
        i = n
        while time.monotonic() < stop:
            session.post(f"{server.url}{BASE}/detail", params={"access_token": "t"},
                         json={"id": ids[i % len(ids)], "prjId": "bench"}).raise_for_status()
            counts[n] += 1
            i += threads

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / seconds


def main() -> None:
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        console.print(f"storing {STORED} ended jobs...")
        ids = store_jobs(root / "data", STORED)
        server = Server(root).start()
        try:
            running = create_to_running(server)
            first_lines = create_to_first_line(server)
            details = timed_calls(server, "detail",
                                  [{"id": ids[(i * 7919) % len(ids)], "prjId": "bench"}
                                   for i in range(1000)])
            lists = timed_calls(server, "list", [{"prjId": "bench", "start": (i * 97) % 9900,
                                                  "num": 20} for i in range(500)])
            rps = detail_rps(server, ids)
        finally:
            server.stop()
    table = Table(title="bmlocal API (2-core machine, medians of repeated calls)")
    for column in ("measure", "p50 ms", "p99 ms", "target"):
        table.add_column(column)
    table.add_row("create -> RUNNING (trivial job)", f"{statistics.median(running):.1f}",
                  f"{percentile(running, 99):.1f}", "p50 <= 10 ms")
    table.add_row("create -> first line of output", f"{statistics.median(first_lines):.1f}",
                  f"{percentile(first_lines, 99):.1f}", "p50 <= 40 ms")
    table.add_row(f"detail, {STORED} jobs stored", f"{statistics.median(details):.2f}",
                  f"{percentile(details, 99):.2f}", "p99 <= 10 ms")
    table.add_row(f"list (20 a page), {STORED} jobs stored", f"{statistics.median(lists):.2f}",
                  f"{percentile(lists, 99):.2f}", "p99 <= 10 ms")
    console.print(table)
    console.print(f"detail at concurrency 16: [bold]{rps:.0f} requests/s[/bold]")


if __name__ == "__main__":
    main()
