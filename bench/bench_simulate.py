"""The test double's figures (issue 12), medians:

- simulated create -> SUCCESSED visible in detail (target <= 5 ms)
- 1,000 create + detail through bmlocal.client (target <= 3 s), beside the floor: as many
  plain GETs of /openapi.json on the same connection
- admin reset with 200 jobs stored (target <= 20 ms), round trip and server side
- BmlServer ready (target <= 0.5 s): in a warm process, and cold (a new interpreter)
- examples/harness' suite: simulate beside the process executor (real jobs), wall time

Run: .venv/bin/python bench/bench_simulate.py [--quick]
"""
import re
import statistics
import subprocess
import tempfile
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bmlocal.testing import BmlServer  # noqa: E402
from bmlocal.client import Client  # noqa: E402
from tests.support.server import Server, job_body  # noqa: E402

COLD_START = ("import time; t = time.perf_counter(); from bmlocal.testing import BmlServer; "
              "s = BmlServer().start(); print(time.perf_counter() - t); s.stop()")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def create_to_successed(client: Client, runs: int) -> list[float]:
    took = []
    for i in range(runs):
        started = time.perf_counter()
        job_id = client.create(job_body(f"lat-{i}"))
        while client.detail(job_id, "p1")["train_status"] != "SUCCESSED":
            pass
        took.append(time.perf_counter() - started)
    return took


def served_create_to_successed(runs: int) -> list[float]:
    """The same against `bmlocal serve --executor simulate` in its own process: the polling
    loop here does not take the server's threads' interpreter lock."""
    with tempfile.TemporaryDirectory() as root:
        served = Server(Path(root), extra_args=["--executor", "simulate"]).start()
        try:
            client = Client(served.url)
            client.list("p1")
            return create_to_successed(client, runs)
        finally:
            served.stop()


def create_and_detail(server: BmlServer, count: int) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process: client and server together (the
    server runs in its threads), a figure that other load on the machine hardly moves."""
    client = server.client
    server.admin.reset()
    server.settle()
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(count):
        client.detail(client.create(job_body(f"n-{i}")), "p1")
    return time.perf_counter() - started, time.process_time() - cpu


def plain_calls(server: BmlServer, count: int) -> float:
    """The floor: the same number of the cheapest call, list of an empty project."""
    client = server.client
    started = time.perf_counter()
    for _ in range(count):
        client.list("empty", num=1)
    return time.perf_counter() - started


def resets(server: BmlServer, runs: int, jobs: int) -> tuple[list[float], list[float]]:
    trips, inside = [], []
    for r in range(runs):
        for i in range(jobs):
            server.client.create(job_body(f"r{r}-{i}"))
        started = time.perf_counter()
        answer = server.admin.reset()
        trips.append(time.perf_counter() - started)
        inside.append(answer["seconds"])
    return trips, inside


def warm_starts(runs: int) -> list[float]:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        server = BmlServer().start()
        took.append(time.perf_counter() - started)
        server.stop()
    return took


def cold_starts(runs: int) -> list[float]:
    return [float(subprocess.run([sys.executable, "-c", COLD_START], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout.split()[-1])
            for _ in range(runs)]


def suite(executor: str, runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds of `pytest examples/harness` (a new interpreter, imports included), and
    the session time pytest itself reports (collection, server start and the tests)."""
    walls, sessions = [], []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               "--bml-executor", executor, "examples/harness"],
                              cwd=ROOT, capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"harness suite failed with {executor}:\n{done.stdout[-2000:]}")
        sessions.append(float(re.findall(r" in ([0-9.]+)s", done.stdout)[-1]))
    return walls, sessions


def main() -> None:
    quick = "--quick" in sys.argv
    runs = 3 if quick else 5
    table = Table(title="bmlocal as a test double (medians)")
    for column in ("figure", "measured", "target", "met"):
        table.add_column(column)

    def row(name: str, value: float, target: float | None, shown: str) -> None:
        met = "" if target is None else ("yes" if value <= target else "NO")
        wanted = "" if target is None else f"{target:g} s" if target >= 1 else ms(target)
        table.add_row(name, shown, wanted, met)
        print(f"{name}: {shown} (target {wanted or '-'}) {met}", flush=True)

    with BmlServer() as server:
        server.client.list("p1")  # token, connection, first imports
        latency = statistics.median(create_to_successed(server.client, 30 if quick else 100))
        row("create -> SUCCESSED seen in detail (BmlServer)", latency, 0.005, ms(latency))
        served = statistics.median(served_create_to_successed(30 if quick else 100))
        row("  the same, `bmlocal serve --executor simulate`", served, 0.005, ms(served))
        server.admin.reset()
        count = 200 if quick else 1000
        measured = [create_and_detail(server, count) for _ in range(runs)]
        scaled = statistics.median(m[0] for m in measured) * 1000 / count
        row(f"1,000 create + detail (client){' (x5 of 200)' if quick else ''}", scaled, 3.0,
            f"{scaled:.2f} s")
        cpu = statistics.median(m[1] for m in measured) * 1000 / count
        row("  CPU seconds of it (client + server threads)", cpu, None, f"{cpu:.2f} s")
        floor = statistics.median(plain_calls(server, 2 * count) for _ in range(runs))
        row("  floor: 2,000 list of an empty project", floor * 1000 / count, None,
            f"{floor * 1000 / count:.2f} s")
        server.admin.reset()
        trips, inside = resets(server, runs * 2, 200)
        row("reset, 200 jobs (round trip)", statistics.median(trips), 0.020,
            ms(statistics.median(trips)))
        row("  reset, server side", statistics.median(inside), None,
            ms(statistics.median(inside)))
    warm = statistics.median(warm_starts(runs))
    row("BmlServer ready (warm process)", warm, 0.5, ms(warm))
    cold = statistics.median(cold_starts(3))
    row("  cold: new interpreter, imports included", cold, None, ms(cold))
    for executor in ("simulate", "process"):
        walls, sessions = suite(executor, 3 if not quick else 1)
        wall, session = statistics.median(walls), statistics.median(sessions)
        row(f"examples/harness suite, {executor}: wall / pytest session", wall, None,
            f"{wall:.2f} s / {session:.2f} s")
    Console().print(table)


if __name__ == "__main__":
    main()
