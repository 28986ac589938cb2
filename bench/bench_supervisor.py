"""What a node's supervisor costs: CPU and wall time a node for `/bin/true` run through the
fork server and a supervisor (fork, its own session, the exit record; with a memory cgroup
and without), beside the same command started by plain `subprocess.Popen` from Python.
The CPU is the fork server's reaped children (the supervisors and what they ran), a steadier
figure than jobs/s on a shared machine. Rounds alternate the three ways; medians quoted.

Run: .venv/bin/python bench/bench_supervisor.py [--nodes 300] [--rounds 5]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bmlocal.runtime.executors.cgroup import MemoryCgroup, Unavailable  # noqa: E402
from bmlocal.runtime.executors.forkserver import ForkServer  # noqa: E402
from bench_serving import cpu_seconds  # noqa: E402


def supervised(server: ForkServer, root: Path, nodes: int, memory_gb: int | None
               ) -> tuple[float, float]:
    """(CPU ms, wall ms) a node, one node at a time."""
    assert server._process is not None  # noqa: SLF001 - started
    pid = server._process.pid  # noqa: SLF001
    cpu, started = cpu_seconds(pid, reaped=True), time.perf_counter()
    for n in range(nodes):
        state = Path(tempfile.mkdtemp(dir=root))
        (state / "node.json").write_text(json.dumps({
            "rank": 0, "argv": ["/bin/true"], "env": {}, "cwd": str(state),
            "log_path": str(state / "node.log"), "events_path": str(state / "job.log"),
            "grace": 1, "cpu_set": None, "memory_gb": memory_gb}))
        server.spawn(state)
        while not (state / "exit.json").exists():
            time.sleep(0.0002)
    wall = time.perf_counter() - started
    time.sleep(0.2)  # the last supervisor reaped
    return (cpu_seconds(pid, reaped=True) - cpu) / nodes * 1e3, wall / nodes * 1e3


def plain(nodes: int) -> tuple[float, float]:
    def used() -> float:
        me, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                              resource.RUSAGE_CHILDREN))
        return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
    cpu, started = used(), time.perf_counter()
    for _ in range(nodes):
        subprocess.Popen(["/bin/true"], stdin=subprocess.DEVNULL,
                         start_new_session=True).wait()
    return (used() - cpu) / nodes * 1e3, (time.perf_counter() - started) / nodes * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    try:
        MemoryCgroup.create(2**30).remove()
        memory: int | None = 1
    except Unavailable as exc:
        print(f"no memory cgroups here ({exc}): that row is left out")
        memory = None
    ways = {"Popen /bin/true": lambda: plain(args.nodes)}
    server = ForkServer()
    server.start()
    with tempfile.TemporaryDirectory() as tmp:
        ways["supervised"] = lambda: supervised(server, Path(tmp), args.nodes, None)
        if memory:
            ways["supervised, memory cgroup"] = lambda: supervised(server, Path(tmp),
                                                                   args.nodes, memory)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                results[name].append(way())
    server.close()
    base_cpu = statistics.median(c for c, _ in results["Popen /bin/true"])
    print(f"{args.nodes} nodes a round, {args.rounds} rounds, medians; load average "
          f"{os.getloadavg()[0]:.1f}")
    for name, rounds in results.items():
        cpu = statistics.median(c for c, _ in rounds)
        wall = statistics.median(w for _, w in rounds)
        print(f"{name:28} CPU {cpu:5.2f} ms a node ({cpu / base_cpu:4.1f}x Popen), "
              f"wall {wall:5.2f} ms")


if __name__ == "__main__":
    main()
