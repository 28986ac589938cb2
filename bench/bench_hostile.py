"""Hostile inputs tried against a real bmlocal, and each outcome, as counts: the tests of
tests/hardening (archives, a job's own files, paths, the S3 cache) run for real, each
writing its outcome once its assertions passed (nothing escaped, no job stuck); this prints
them as one table. An attack whose test did not pass is counted as such.

Run: .venv/bin/python bench/bench_hostile.py   (moto[server] for the S3 rows, dockerd and
`make images` for the container row)
"""
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reported_tests import last_line, run_reported  # noqa: E402

TESTS = ["tests/hardening/test_archives.py", "tests/hardening/test_job_files.py",
         "tests/hardening/test_job_paths.py", "tests/hardening/test_s3_cache.py",
         "tests/hardening/test_container_escape.py"]


def main() -> int:
    code, output, rows = run_reported(TESTS, "BMLOCAL_HOSTILE_REPORT")
    table = Table(title="Hostile inputs tried (tests/hardening)")
    for column in ("area", "attack", "outcome"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["area"], row["attack"], row["outcome"])
    console = Console(width=180)
    console.print(table)
    by_area = ", ".join(f"{area} {n}" for area, n in Counter(r["area"] for r in rows).items())
    # a row is written only once its test's assertions passed (nothing escaped, no job
    # left PENDING); an attack whose test failed shows in pytest's summary instead
    console.print(f"{len(rows)} hostile inputs, each refused or contained ({by_area}); "
                  f"pytest: {last_line(output)}", markup=False)
    if code != 0:
        console.print(output[-3000:], markup=False)
    return code


if __name__ == "__main__":
    sys.exit(main())
