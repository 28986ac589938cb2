"""Each hostile input a test tries, with its outcome, written as one JSON line to the file
named by BMLOCAL_HOSTILE_REPORT (bench/bench_hostile.py sets it and prints the table)."""
from tests.support.report import append_row

REPORT = "BMLOCAL_HOSTILE_REPORT"


def record(area: str, attack: str, outcome: str) -> None:
    """Called once the test's assertions passed: nothing escaped, the outcome is `outcome`."""
    append_row(REPORT, {"area": area, "attack": attack, "outcome": outcome})
