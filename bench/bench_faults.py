"""Faults injected into a running bmlocal and what became of every job, as counts: the
fault tests of tests/hardening/test_faults.py run for real (an engine of their own stopped,
started and frozen, moto stopped, kill -9 mid-start, full disks), each writing its outcome;
this prints them as one table. A fault whose test did not pass is shown as such.

Run: .venv/bin/python bench/bench_faults.py   (root, dockerd and moto[server] for all rows)
"""
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reported_tests import last_line, run_reported  # noqa: E402

TESTS = ["tests/hardening/test_faults.py"]


def main() -> int:
    code, output, rows = run_reported(TESTS, "BMLOCAL_FAULTS_REPORT")
    table = Table(title="Faults injected (tests/hardening/test_faults.py)")
    for column in ("fault", "injected", "jobs", "lost", "outcome"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["fault"], row["injected"], str(row["jobs"]), str(row["lost"]),
                      row["outcome"])
    console = Console(width=160)
    console.print(table)
    jobs, lost = sum(r["jobs"] for r in rows), sum(r["lost"] for r in rows)
    console.print(f"{len(rows)} faults, {jobs} jobs, {lost} lost; pytest: {last_line(output)}",
                  markup=False)
    if code != 0:
        console.print(output[-3000:], markup=False)
    return 0 if code == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
