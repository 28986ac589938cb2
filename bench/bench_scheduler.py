"""Scheduling benchmark: with 10,000 jobs queued for one GPU, the time from the GPU freeing
(the node's exit recorded by its supervisor) to the next job's RUNNING; and the sustained
throughput of trivial jobs through the process executor.

Run: .venv/bin/python bench/bench_scheduler.py
"""
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import BASE, Server, job_body  # noqa: E402

QUEUED = 10_000
CHAIN = 30
THROUGHPUT_JOBS = 300


def create_many(server: Server, bodies: list[dict]) -> list[int]:
    def create(body: dict) -> int:
        return requests.post(f"{server.url}{BASE}/create", params={"access_token": "t"},
                             json=body, timeout=60).json()["result"]
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(create, bodies))


def gpu_handoff(console: Console) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), config='[gpus]\ndevices = [0]\n').start()
        try:
            console.print(f"queueing {QUEUED} one-GPU jobs...")
            gpu = {"resource_config.resource_name": "GPU_V100", "resource_config.gpu_num": 1}
            holder = server.create("holder", "while [ ! -e $BML_OUTPUT_DIR/go ]; do sleep "
                                             "0.01; done", **gpu)
            server.wait(holder, "RUNNING")
            ids = sorted(create_many(server, [job_body(f"q{i}", "true", **gpu)
                                              for i in range(QUEUED)]))
            (server.pfs / "out" / "holder" / "go").write_text("")
            server.wait(ids[CHAIN], timeout=120)
            return handoffs(server, [holder, *ids[:CHAIN]])
        finally:
            server.stop()


def handoffs(server: Server, chain: list[int]) -> list[float]:
    """Milliseconds from each job's exit being recorded to the next job's start."""
    db = sqlite3.connect(server.data_dir / "bmlocal.db")
    gaps = []
    for previous, following in zip(chain, chain[1:]):
        exit_file = server.data_dir / "jobs" / str(previous) / "nodes" / "0" / "exit.json"
        (started,) = db.execute("SELECT start_time FROM jobs WHERE id=?",
                                (following,)).fetchone()
        gaps.append((started - exit_file.stat().st_mtime) * 1000)
    return gaps


def throughput(console: Console) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), config="[scheduler]\ncpu_slots = 8\n").start()
        try:
            console.print(f"running {THROUGHPUT_JOBS} trivial jobs...")
            started = time.perf_counter()
            ids = create_many(server, [job_body(f"t{i}", "true")
                                       for i in range(THROUGHPUT_JOBS)])
            for job_id in ids:
                assert server.wait(job_id, timeout=300)["train_status"] == "SUCCESSED"
            return THROUGHPUT_JOBS / (time.perf_counter() - started)
        finally:
            server.stop()


def main() -> None:
    console = Console()
    gaps = gpu_handoff(console)
    rate = throughput(console)
    console.print(json.dumps({
        "gpu_free_to_next_running_ms": {"median": round(statistics.median(gaps), 1),
                                        "max": round(max(gaps), 1), "samples": len(gaps),
                                        "queued": QUEUED, "target": "<= 100"},
        "trivial_jobs_per_second": {"value": round(rate, 1), "jobs": THROUGHPUT_JOBS,
                                    "target": ">= 20"},
    }, indent=2))


if __name__ == "__main__":
    main()
