"""2-process PyTorch DDP through bmlocal (PytorchDDP, 2 nodes of 1 worker) beside plain
torchrun of the same script, interleaved in one run: wall time and training steps per second.

Two plain baselines: `torchrun --standalone --nproc_per_node 2` (one agent, two workers) and
the same job launched by hand as bmlocal lays it out, two `torchrun --nnodes 2` agents of one
worker each joined through a static rendezvous. The first is the issue's yardstick; the
second tells bmlocal's own cost apart from that of running two nodes.

Run: .venv/bin/python bench/bench_ddp.py [--steps N] [--runs N]
"""
import argparse
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.support.server import Server  # noqa: E402

TORCHRUN = str(Path(sys.executable).parent / "torchrun")
Result = tuple[float, float]  # wall seconds, steps per second


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plain(workdir: Path, commands: list[list[str]], env: dict[str, str]) -> Result:
    started = time.perf_counter()
    nodes = [subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for argv in commands]
    errors = [node.communicate()[1] for node in nodes]
    if any(node.returncode for node in nodes):
        raise RuntimeError(f"plain torchrun failed: {commands}\n{errors[0][-2000:]}")
    wall = time.perf_counter() - started
    return wall, json.loads((workdir / "steps.json").read_text())["steps_per_second"]


def standalone(workdir: Path, env: dict[str, str]) -> Result:
    return plain(workdir, [[TORCHRUN, "--standalone", "--nproc_per_node", "2",
                            "ddp_steps.py"]], env)


def two_nodes(workdir: Path, env: dict[str, str]) -> Result:
    port = str(free_port())
    # one thread a worker, as bmlocal sets for two one-worker nodes on this machine
    threads = str(max(1, len(os.sched_getaffinity(0)) // 2))
    return plain(workdir, [[TORCHRUN, "--nnodes", "2", "--node_rank", str(rank),
                            "--nproc_per_node", "1", "--master_addr", "127.0.0.1",
                            "--master_port", port, "ddp_steps.py"] for rank in (0, 1)],
                 {**env, "OMP_NUM_THREADS": threads})


def through_bmlocal(server: Server, i: int, steps: int) -> Result:
    started = time.time()
    job_id = server.create(f"ddp-{i}", f"BENCH_STEPS={steps} python ddp_steps.py", **{
        "train_config.code_path": "/bench", "train_config.distribute_strategy": "PytorchDDP",
        "resource_config.node_count": 2})
    # The plain runs are timed to their exit; bmlocal's job to the end time its server
    # stored, so the client polls rarely: polling every 20 ms took 0.8 CPU-s a job (server
    # and client) from the 2 cores the workers train on, and 15% of their steps/s.
    info = server.wait(job_id, timeout=600, every=0.5)
    wall = ended_at(server, job_id) - started
    if info["train_status"] != "SUCCESSED":
        raise RuntimeError(f"bmlocal job {job_id} {info['train_status']}: "
                           f"{info['status_reason']}\n{server.node_log(job_id, 1)[-2000:]}")
    out = json.loads((server.pfs / "out" / f"ddp-{i}" / "steps.json").read_text())
    return wall, out["steps_per_second"]


def paired(ours: list[Result], theirs: list[Result]) -> float:
    """The median of each round's wall ratio: the three runs of a round are back to back, so
    the machine's slower and faster spells weigh on both sides of a ratio alike."""
    return statistics.median(o / t for (o, _), (t, _) in zip(ours, theirs))


def ended_at(server: Server, job_id: int) -> float:
    """The job's end as its server stored it (epoch seconds, the clock of time.time())."""
    with closing(sqlite3.connect(f"file:{server.data_dir / 'bmlocal.db'}?mode=ro",
                                 uri=True)) as db:
        (end,) = db.execute("SELECT end_time FROM jobs WHERE id=?", (job_id,)).fetchone()
    return end


def report(results: dict[str, list[Result]], steps: int, runs: int) -> None:
    wall = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    rate = {k: statistics.median(s for _, s in v) for k, v in results.items()}
    table = Table(title=f"2-process DDP, {steps} steps, medians of {runs} interleaved runs")
    for column in ("", "wall s", "steps/s", "bmlocal wall ratio", "paired wall ratio",
                   "bmlocal steps/s ratio"):
        table.add_column(column)
    for name in results:
        ratios = ("", "", "") if name == "bmlocal" else (
            f"{wall['bmlocal'] / wall[name]:.3f} ({wall['bmlocal'] - wall[name]:+.2f} s)",
            f"{paired(results['bmlocal'], results[name]):.3f}",
            f"{rate['bmlocal'] / rate[name]:.3f}")
        table.add_row(name, f"{wall[name]:.2f}", f"{rate[name]:.1f}", *ratios)
    console = Console(width=130)
    console.print(table)
    console.print("targets against torchrun --standalone: wall ratio <= 1.03, "
                    "steps/s ratio >= 0.98")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[Result]] = {
        "torchrun --standalone": [], "torchrun, 2 nodes by hand": [], "bmlocal": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # plain torchrun leaves a torchelastic_* directory in TMPDIR each run: keep them here
        env = {**os.environ, "BENCH_STEPS": str(args.steps), "TMPDIR": tmp}
        workdir = root / "plain"
        workdir.mkdir()
        shutil.copy(HERE / "ddp_steps.py", workdir)
        server = Server(root / "server").start()
        (server.pfs / "bench").mkdir()
        shutil.copy(HERE / "ddp_steps.py", server.pfs / "bench")
        try:
            layouts = {"torchrun --standalone": lambda i: standalone(workdir, env),
                       "torchrun, 2 nodes by hand": lambda i: two_nodes(workdir, env),
                       "bmlocal": lambda i: through_bmlocal(server, i, args.steps)}
            names = list(layouts)
            for i in range(args.runs):
                # each round starts with the next layout, so that none is always run first
                first = i % len(names)
                for name in names[first:] + names[:first]:
                    results[name].append(layouts[name](i))
        finally:
            server.stop()
    report(results, args.steps, args.runs)


if __name__ == "__main__":
    main()
