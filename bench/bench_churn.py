"""The API while jobs start: `detail` and `list` latency, idle and while 300 trivial jobs
created at once run through the 8 CPU slots, and the jobs' throughput (create to SUCCESSED).

Run: .venv/bin/python bench/bench_churn.py [--jobs 300] [--slots 8]

On an ext4 without a journal (this machine's root) leave 30 s between runs, or give TMPDIR
on a tmpfs: ext4 then skips every inode deleted in the last 30 s when it makes a file, one
inode read each, and a run right after another (whose 6,000 files were just removed) pays
that at each of a job's ~20 files: twice the CPU a job, half the jobs/s.
"""
import argparse
import os
import statistics
import sys
import multiprocessing
import tempfile
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Callable

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import BASE, TERMINAL, Server, job_body  # noqa: E402
from bench_serving import cpu_seconds  # noqa: E402


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy so far (/proc/stat: all but idle
    and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed(session: requests.Session, url: str, method: str, body: dict) -> float:
    started = time.perf_counter()
    answer = session.post(f"{url}{BASE}/{method}", params={"access_token": "t"}, json=body)
    elapsed = (time.perf_counter() - started) * 1000
    assert "result" in answer.json(), answer.text
    return elapsed


def probe(url: str, job_id: int, until: Event, out: Connection) -> None:
    """detail and list in turn, one at a time, until `until` is set; in a process of its
    own, so that the creating client's GIL does not delay it."""
    session = requests.Session()
    times: dict[str, list[float]] = {"detail": [], "list": []}
    while not until.is_set():
        times["detail"].append(timed(session, url, "detail", {"id": job_id, "prjId": "p1"}))
        times["list"].append(timed(session, url, "list", {"prjId": "p1", "num": 20}))
        time.sleep(0.005)
    out.send(times)


def probed(url: str, job_id: int) -> tuple[Event, Callable[[], dict[str, list[float]]]]:
    """Start a probe; set the event to end it, then call the function for its times."""
    until = multiprocessing.Event()
    mine, theirs = multiprocessing.Pipe()
    worker = multiprocessing.Process(target=probe, args=(url, job_id, until, theirs))
    worker.start()

    def result() -> dict[str, list[float]]:
        times = mine.recv()
        worker.join()
        return times

    return until, result


def summary(name: str, values: list[float]) -> str:
    return (f"{name}: {len(values)} calls, p50 {statistics.median(values):.1f} ms, "
            f"p99 {percentile(values, 99):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--slots", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), config=f"[scheduler]\ncpu_slots = {args.slots}\n",
                        extra_args=["--executor", "process"]).start()
        try:
            first = server.create("first", "true")
            server.wait(first)
            done, times = probed(server.url, first)
            time.sleep(3)
            done.set()
            idle = times()
            done, times = probed(server.url, first)
            assert server.process is not None
            started, cpu = time.perf_counter(), cpu_seconds(server.process.pid)
            busy_before = machine_busy_seconds()
            session = requests.Session()
            ids = [session.post(f"{server.url}{BASE}/create", params={"access_token": "t"},
                                json=job_body(f"churn-{i}", "true")).json()["result"]
                   for i in range(args.jobs)]
            for job_id in ids:
                server.wait(job_id, TERMINAL, timeout=600, every=0.2)
            elapsed = time.perf_counter() - started
            cpu = cpu_seconds(server.process.pid) - cpu
            machine = machine_busy_seconds() - busy_before
            done.set()
            busy = times()
        finally:
            server.stop()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"{args.slots} CPU slots")
    print("idle:    " + summary("detail", idle["detail"]) + "; " + summary("list", idle["list"]))
    print(f"{args.jobs} jobs: " + summary("detail", busy["detail"]) + "; "
          + summary("list", busy["list"]) + " (target p99 <= 10 ms)")
    print(f"{args.jobs} trivial jobs created to ended in {elapsed:.1f} s: "
          f"{args.jobs / elapsed:.0f} jobs/s; CPU a job: the server {cpu / args.jobs * 1000:.1f} ms, "
          f"the machine {machine / args.jobs * 1000:.1f} ms (of {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
