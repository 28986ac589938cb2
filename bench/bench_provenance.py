"""Provenance benchmark: the checksum that bml-run.json takes of a staged tree at a job's
end (bmlocal.replay.provenance.tree_digest: no-follow opens, sha256 per file, one digest
over paths and digests), beside plain `find | sort -z | xargs -0 sha256sum` over the same
files. Trees: many small files (a code tree) and a few large ones (a dataset); warm page
cache; medians of RUNS.

Run: .venv/bin/python bench/bench_provenance.py [--mb 256]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bmlocal.replay.provenance import tree_digest  # noqa: E402

RUNS = 5


def make_trees(root: Path, mb: int) -> dict[str, Path]:
    code, data = root / "code", root / "data"
    for i in range(2000):
        target = code / f"pkg{i % 40}" / f"mod{i}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(os.urandom(2048))
    data.mkdir()
    for i in range(8):
        (data / f"part-{i}.bin").write_bytes(os.urandom(mb * 2**20 // 8))
    return {"code: 2000 files x 2 KiB": code, f"dataset: 8 files, {mb} MiB": data}


def plain(root: Path) -> None:
    subprocess.run("find . -type f -print0 | sort -z | xargs -0 sha256sum > /dev/null",
                   shell=True, cwd=root, check=True)


def median_seconds(run, root: Path) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run(root)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=256)
    args = parser.parse_args()
    table = Table(title=f"tree checksum, median of {RUNS} (warm page cache)")
    for column in ("tree", "bml-run.json tree_digest (s)", "sha256sum (s)", "ratio"):
        table.add_column(column)
    with tempfile.TemporaryDirectory() as tmp:
        for name, root in make_trees(Path(tmp), args.mb).items():
            plain(root)  # both read from the page cache
            ours, theirs = median_seconds(tree_digest, root), median_seconds(plain, root)
            table.add_row(name, f"{ours:.3f}", f"{theirs:.3f}", f"{ours / theirs:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
