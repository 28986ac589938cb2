"""Run tests that write one JSON row per outcome to the file named by a variable, and read
the rows back: how bench_faults.py and bench_hostile.py turn passing tests into a table."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_reported(tests: list[str], variable: str) -> tuple[int, str, list[dict]]:
    """pytest's exit code, its output and the rows its tests wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rows.jsonl"
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, "-rfEs"],
            cwd=ROOT, env={**os.environ, variable: str(report)}, capture_output=True,
            text=True)
        rows = [json.loads(line) for line in report.read_text().splitlines()] \
            if report.exists() else []
    return done.returncode, done.stdout, rows


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1] if output.strip() else "no output"
