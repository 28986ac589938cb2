"""Where the server's time goes while trivial jobs churn through its CPU slots: the profile
behind README's "The API while jobs start". Not a benchmark: it says what a request waits
behind (bench_churn.py measures how long it waits).

It creates `--jobs` trivial jobs at once, `--rounds` times, in one server, and reports
- each of the server's threads, grouped by role: CPU, time waiting for a core (the
  kernel's run queue) and context switches, a job each (/proc/<pid>/task/*/schedstat);
- with py-spy (`pip install -e '.[bench]'`), who holds the GIL, by room: a request thread
  or a job worker that wants it waits behind these.

Run: .venv/bin/python bench/profile_churn.py [--jobs 300] [--slots 8] [--rounds 3]
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import Server  # noqa: E402
from bench_churn import run_jobs  # noqa: E402

PY_SPY = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
# A GIL holder's room: the first of these markers found in its stack (most specific first).
ROOMS = [
    ("Operations.op_create", "API: create (validate, insert, wake the scheduler)"),
    ("Operations.op_", "API: the other calls (detail, list, ...)"),
    ("handler_thread", "HTTP: serving a request (Flask, auth, the envelope)"),
    ("wasyncore", "HTTP: reading and parsing requests (waitress's loop)"),
    ("Scheduler.admit_waiting", "scheduler: admitting waiting jobs"),
    ("Scheduler.watch", "scheduler: watching running jobs"),
    ("Scheduler._loop", "scheduler: the rest of its pass"),
    ("Runner.launch", "job workers: starting a job (staging, nodes)"),
    ("Scheduler._wrap_up", "job workers: wrapping a job up"),
    ("ExitWatcher", "the exit watcher"),
    ("_worker", "job workers: the rest"),
]
ThreadTimes = dict[int, tuple[float, float, int]]  # tid: CPU s, run-queue wait s, switches


def thread_times(pid: int) -> ThreadTimes:
    times: ThreadTimes = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            run, wait, _ = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
            status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        switches = sum(int(n) for n in re.findall(r"ctxt_switches:\s+(\d+)", status))
        times[int(tid)] = (int(run) / 1e9, int(wait) / 1e9, switches)
    return times


def thread_names(pid: int) -> dict[int, str]:
    """Python's names of the threads (py-spy's dump), job workers and waitress's as one."""
    if PY_SPY is None:
        return {}
    dump = subprocess.run([PY_SPY, "dump", "-p", str(pid)], capture_output=True, text=True)
    return {int(tid): re.sub(r"[-_]\d+$", "-*", name) for tid, name in
            re.findall(r'^Thread (\d+) \(\w+\): "([^"]+)"', dump.stdout, re.M)}


def room_of(stack: str) -> str:
    return next((room for marker, room in ROOMS if marker in stack), "other")


def gil_rooms(raw: Path) -> tuple[Counter[str], int]:
    """GIL samples by room from py-spy's raw (collapsed) output."""
    rooms: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        rooms[room_of(stack)] += int(count)
    return rooms, sum(rooms.values())


def thread_table(before: ThreadTimes, after: ThreadTimes, names: dict[int, str],
                 jobs: int) -> Table:
    groups: dict[str, list[float]] = {}
    for tid, (cpu, wait, switches) in after.items():
        cpu0, wait0, switches0 = before.get(tid, (0.0, 0.0, 0))
        group = groups.setdefault(names.get(tid, f"thread {tid}"), [0.0, 0.0, 0.0, 0.0])
        for i, value in enumerate((cpu - cpu0, wait - wait0, switches - switches0, 1)):
            group[i] += value
    table = Table(title="The server's threads, a job each")
    for column in ("thread", "threads", "CPU ms", "waiting for a core ms", "switches"):
        table.add_column(column)
    for name, (cpu, wait, switches, count) in sorted(groups.items(), key=lambda g: -g[1][0]):
        table.add_row(name, str(int(count)), f"{cpu / jobs * 1000:.2f}",
                      f"{wait / jobs * 1000:.2f}", f"{switches / jobs:.1f}")
    return table


def gil_table(rooms: Counter[str], total: int) -> Table:
    table = Table(title=f"Who holds the GIL ({total} samples)")
    table.add_column("room")
    table.add_column("share of the GIL's held time")
    for room, samples in rooms.most_common():
        table.add_row(room, f"{samples / total:.0%}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), config=f"[scheduler]\ncpu_slots = {args.slots}\n",
                        extra_args=["--executor", "process"]).start()
        assert server.process is not None
        pid, raw = server.process.pid, Path(tmp) / "gil.txt"
        try:
            server.wait(server.create("warm-up", "true"))
            names = thread_names(pid)  # the threads up now; the churn's new ones after it
            spy = None if PY_SPY is None else subprocess.Popen(
                [PY_SPY, "record", "--gil", "-r", "500", "-f", "raw", "-o", str(raw),
                 "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before = thread_times(pid)
            for n in range(args.rounds):
                run_jobs(server, args.jobs, f"churn{n}")
            after = thread_times(pid)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            names |= thread_names(pid)  # once py-spy's record lets go of the process
        finally:
            server.stop()
        jobs = args.jobs * args.rounds
        console.print(f"{jobs} trivial jobs through {args.slots} slots, "
                      f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        console.print(thread_table(before, after, names, jobs))
        if spy is None:
            console.print("py-spy is not installed (pip install -e '.[bench]'): "
                          "no GIL profile, and threads are shown by id", markup=False)
        else:
            console.print(gil_table(*gil_rooms(raw)))


if __name__ == "__main__":
    main()
