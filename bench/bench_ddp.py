"""2-process PyTorch DDP through bmlocal (PytorchDDP, 2 nodes of 1 worker) beside plain
torchrun of the same script, interleaved in one run: wall time and training steps per second.
Plain torchrun is `--standalone --nproc_per_node 2`: one agent, two workers; bmlocal runs
two nodes, each its own supervisor and torchrun agent with one worker.

Run: .venv/bin/python bench/bench_ddp.py
"""
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.support.server import Server  # noqa: E402

RUNS = 5


def plain(workdir: Path) -> tuple[float, float]:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "torchrun"), "--standalone",
                    "--nproc_per_node", "2", "ddp_steps.py"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return wall, json.loads((workdir / "steps.json").read_text())["steps_per_second"]


def through_bmlocal(server: Server, i: int) -> tuple[float, float]:
    started = time.perf_counter()
    job_id = server.create(f"ddp-{i}", "python ddp_steps.py", **{
        "train_config.code_path": "/bench", "train_config.distribute_strategy": "PytorchDDP",
        "resource_config.node_count": 2})
    info = server.wait(job_id, timeout=600, statuses="SUCCESSED", every=0.2)
    wall = time.perf_counter() - started
    assert info["train_status"] == "SUCCESSED"
    steps = json.loads((server.pfs / "out" / f"ddp-{i}" / "steps.json").read_text())
    return wall, steps["steps_per_second"]


def main() -> None:
    results: dict[str, list[tuple[float, float]]] = {"torchrun": [], "bmlocal": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        workdir = root / "plain"
        workdir.mkdir()
        shutil.copy(HERE / "ddp_steps.py", workdir)
        server = Server(root / "server").start()
        (server.pfs / "bench").mkdir()
        shutil.copy(HERE / "ddp_steps.py", server.pfs / "bench")
        try:
            for i in range(RUNS):
                results["torchrun"].append(plain(workdir))
                results["bmlocal"].append(through_bmlocal(server, i))
        finally:
            server.stop()
    wall = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
    steps = {k: statistics.median(s for _, s in v) for k, v in results.items()}
    table = Table(title=f"2-process DDP, medians of {RUNS} interleaved runs")
    for column in ("", "wall s", "steps/s"):
        table.add_column(column)
    for name in results:
        table.add_row(name, f"{wall[name]:.2f}", f"{steps[name]:.1f}")
    table.add_row("bmlocal / torchrun", f"{wall['bmlocal'] / wall['torchrun']:.3f}",
                  f"{steps['bmlocal'] / steps['torchrun']:.3f}")
    Console().print(table)
    Console().print("targets: wall overhead <= 5% (ratio <= 1.05), steps/s ratio >= 0.98")


if __name__ == "__main__":
    main()
