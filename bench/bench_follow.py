"""Followed logs: the server-sent event stream (/stream/v1/logs, what `bmlocal logs -f` and
the dashboard use) beside plain polling of the API's `logs` call every 0.5 s (what
`bmlocal submit` did before; a curl loop does the same), against one real server.

1. Latency: a job prints a line stamped with its wall-clock time every 20 ms for 4 s; for
   each line, arrival minus stamp. Medians and 95th percentiles of each run, and the HTTP
   requests each method made.
2. Throughput: a 256 MiB text log of an ended job read from offset 0 to its end: MiB/s of
   each method (both read 64 KiB chunks), and the server's resident memory before and after.

Run: .venv/bin/python bench/bench_follow.py [--reps 3]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bmlocal.cli.remote import follow_log  # noqa: E402
from bmlocal.client import Client  # noqa: E402
from tests.support.server import Server  # noqa: E402

LINES, EVERY = 200, 0.02
BIG = 256 << 20
POLL_SECONDS = 0.5
STAMPER = (f"python -c \"import time\nfor i in range({LINES}):\n"
           f"    print(repr(time.time()), flush=True); time.sleep({EVERY})\"")


def by_sse(client: Client, job: int) -> tuple[list[float], int]:
    latencies, partial = [], ""
    for event in follow_log(client, job, "p1", "node-0.log"):
        if event.kind != "log":
            continue
        now = time.time()
        lines = (partial + event.data["text"]).split("\n")
        partial = lines.pop()
        latencies += [now - float(line) for line in lines if line]
    return latencies, 1


def by_polling(client: Client, job: int) -> tuple[list[float], int]:
    latencies, partial, offset, calls = [], "", 0, 0
    while True:
        chunk = client.logs(job, "p1", "node-0.log", offset)
        status = client.detail(job, "p1")["train_status"]
        calls += 2
        now = time.time()
        offset = chunk["offset"]
        lines = (partial + chunk["content"]).split("\n")
        partial = lines.pop()
        latencies += [now - float(line) for line in lines if line]
        if not chunk["content"] and status in ("SUCCESSED", "FAILED", "STOPPED"):
            return latencies, calls
        if not chunk["content"]:
            time.sleep(POLL_SECONDS)


def read_all_sse(client: Client, job: int) -> int:
    return sum(len(e.data["text"]) for e in follow_log(client, job, "p1", "node-0.log")
               if e.kind == "log")


def read_all_polling(client: Client, job: int) -> int:
    total, offset = 0, 0
    while True:
        chunk = client.logs(job, "p1", "node-0.log", offset)
        if not chunk["content"]:
            return total
        total += len(chunk["content"])
        offset = chunk["offset"]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    reps = parser.parse_args().reps
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp)).start()
        try:
            client = Client(server.url)
            latency = {"stream (SSE)": [], "polling every 0.5 s": []}
            calls = {name: [] for name in latency}
            for rep in range(reps):
                for name, method in (("stream (SSE)", by_sse),
                                     ("polling every 0.5 s", by_polling)):
                    job = server.create(f"stamps-{rep}-{len(calls[name])}-{name[:4]}",
                                        STAMPER)
                    found, made = method(client, job)
                    assert len(found) == LINES, (name, len(found))
                    latency[name].append(found)
                    calls[name].append(made)
            table = Table(title=f"line latency ({LINES} lines, one each {EVERY * 1000:g} ms; "
                                f"medians of {reps} runs)")
            for column in ("method", "median ms", "p95 ms", "HTTP requests"):
                table.add_column(column)
            for name, runs in latency.items():
                medians = [statistics.median(r) * 1000 for r in runs]
                p95s = [statistics.quantiles(r, n=20)[-1] * 1000 for r in runs]
                table.add_row(name, f"{statistics.median(medians):.1f}",
                              f"{statistics.median(p95s):.1f}",
                              f"{statistics.median(calls[name]):g}")
            console.print(table)

            job = server.create("big", f"python -c \"import sys\nfor _ in range({BIG // 1024}):"
                                       f" sys.stdout.write('x' * 1023 + chr(10))\"")
            server.wait(job, timeout=300)
            assert server.process is not None
            speed = {"stream (SSE)": [], "logs calls": []}
            rss = {name: [rss_mib(server.process.pid)] for name in speed}
            for name, read in (("stream (SSE)", read_all_sse),
                               ("logs calls", read_all_polling)):
                rss[name] = [rss_mib(server.process.pid)]
                for _ in range(reps):
                    started = time.monotonic()
                    assert read(client, job) == BIG
                    speed[name].append(BIG / (1 << 20) / (time.monotonic() - started))
                rss[name].append(rss_mib(server.process.pid))
            table = Table(title=f"reading a {BIG >> 20} MiB log from offset 0 "
                                f"(medians of {reps} runs)")
            for column in ("method", "MiB/s", "ratio to logs calls"):
                table.add_column(column)
            base = statistics.median(speed["logs calls"])
            for name, runs in speed.items():
                table.add_row(name, f"{statistics.median(runs):.1f}",
                              f"{statistics.median(runs) / base:.2f}")
            console.print(table)
            for name, (before, after) in rss.items():
                console.print(f"server resident memory, {name}: {before:.0f} MiB before, "
                              f"{after:.0f} MiB after")
            client.close()
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
