"""The jobs' throughput (300 trivial jobs created at once, create to SUCCESSED) with nothing
else asking, then the API while jobs start: `detail` and `list` latency, idle and while 300
more run through the CPU slots (8 unless told), a probe asking all the while (it costs the
server CPU too: the jobs' throughput is given again beside it). The probe asks a bare Flask
app too, in the same loop (bench_serving.py's: the same detail answer on the same path,
served the same way): what the machine alone, loaded by the same churn, does to a server
that does nothing else.

Run: .venv/bin/python bench/bench_churn.py [--jobs 300] [--slots 8]

The jobs on their own run `--rounds` times in one server, each round quoted and their median.
On an ext4 without a journal (this machine's root) making a file skips every inode deleted
in the last 60 s, or 360 s while its inode table is not yet written back (recently_deleted()
in the kernel's fs/ext4/ialloc.c), one inode read each: a run within minutes of removing
many files (another run's 6,000, a test suite's) pays that at each of a job's ~20 files, up
to twice the CPU a job, and its rounds speed up as those deletions age. Quote a run made
minutes after the last mass removal, or give TMPDIR on a tmpfs.
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
from bench_serving import cpu_seconds, start_bare  # noqa: E402


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


def probe(url: str, bare_url: str, job_id: int, until: Event, out: Connection) -> None:
    """detail and list, then the bare app's detail, one at a time, until `until` is set; in
    a process of its own, so that the creating client's GIL does not delay it."""
    session = requests.Session()
    times: dict[str, list[float]] = {"detail": [], "list": [], "bare": []}
    detail = {"id": job_id, "prjId": "p1"}
    while not until.is_set():
        times["detail"].append(timed(session, url, "detail", detail))
        times["list"].append(timed(session, url, "list", {"prjId": "p1", "num": 20}))
        times["bare"].append(timed(session, bare_url, "detail", detail))
        time.sleep(0.005)
    out.send(times)


def probed(url: str, bare_url: str, job_id: int
           ) -> tuple[Event, Callable[[], dict[str, list[float]]]]:
    """Start a probe; set the event to end it, then call the function for its times."""
    until = multiprocessing.Event()
    mine, theirs = multiprocessing.Pipe()
    worker = multiprocessing.Process(target=probe, args=(url, bare_url, job_id, until, theirs))
    worker.start()

    def result() -> dict[str, list[float]]:
        times = mine.recv()
        worker.join()
        return times

    return until, result


def summary(name: str, values: list[float]) -> str:
    return (f"{name}: {len(values)} calls, p50 {statistics.median(values):.1f} ms, "
            f"p99 {percentile(values, 99):.1f} ms")


def run_jobs(server: Server, jobs: int, name: str) -> dict[str, float]:
    """Create `jobs` trivial jobs at once and wait for every one to end: how long it took,
    and the CPU seconds the server and the whole machine spent meanwhile."""
    assert server.process is not None
    started, cpu = time.perf_counter(), cpu_seconds(server.process.pid)
    busy_before = machine_busy_seconds()
    session = requests.Session()
    ids = [session.post(f"{server.url}{BASE}/create", params={"access_token": "t"},
                        json=job_body(f"{name}-{i}", "true")).json()["result"]
           for i in range(jobs)]
    for job_id in ids:
        server.wait(job_id, TERMINAL, timeout=600, every=0.2)
    return {"seconds": time.perf_counter() - started,
            "server": cpu_seconds(server.process.pid) - cpu,
            "machine": machine_busy_seconds() - busy_before}


def throughput(jobs: int, run: dict[str, float]) -> str:
    return (f"{jobs} trivial jobs created to ended in {run['seconds']:.1f} s: "
            f"{jobs / run['seconds']:.0f} jobs/s; CPU a job: the server "
            f"{run['server'] / jobs * 1000:.1f} ms, the machine "
            f"{run['machine'] / jobs * 1000:.1f} ms (of {os.cpu_count()} cores)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="of the jobs on their own")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bare = None
        server = Server(Path(tmp), config=f"[scheduler]\ncpu_slots = {args.slots}\n",
                        extra_args=["--executor", "process"]).start()
        try:
            first = server.create("first", "true")
            server.wait(first)
            alone = [run_jobs(server, args.jobs, f"alone{n}") for n in range(args.rounds)]
            answer = server.post("detail", {"id": first, "prjId": "p1"}).content
            bare, bare_url = start_bare(Path(tmp), answer)
            done, times = probed(server.url, bare_url, first)
            time.sleep(3)
            done.set()
            idle = times()
            done, times = probed(server.url, bare_url, first)
            under_probe = run_jobs(server, args.jobs, "probed")
            done.set()
            busy = times()
        finally:
            server.stop()
            if bare is not None:
                bare.terminate()
                bare.wait(timeout=30)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"{args.slots} CPU slots")
    for n, run in enumerate(alone):
        print(f"alone {n + 1}: " + throughput(args.jobs, run))
    rates = [args.jobs / run["seconds"] for run in alone]
    print(f"alone: median {statistics.median(rates):.0f} jobs/s of {args.rounds} rounds "
          f"(target >= 100 with 2 slots)")
    for name, times in (("idle", idle), (f"{args.jobs} jobs", busy)):
        print(f"{name}: " + summary("detail", times["detail"]) + "; "
              + summary("list", times["list"]) + "; bare Flask "
              + summary("detail", times["bare"]))
    p99 = {name: percentile(busy[name], 99) for name in busy}
    print(f"  under churn, p99 / bare Flask's: detail {p99['detail'] / p99['bare']:.2f}, "
          f"list {p99['list'] / p99['bare']:.2f} (target p99 <= 10 ms)")
    print("  meanwhile " + throughput(args.jobs, under_probe) + ", the probe asking too")


if __name__ == "__main__":
    main()
