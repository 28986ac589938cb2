"""Each hostile input a test tries, with its outcome, written as one JSON line to the file
named by BMLOCAL_HOSTILE_REPORT (bench/bench_hostile.py sets it and prints the table)."""
import json
import os

REPORT = "BMLOCAL_HOSTILE_REPORT"


def record(area: str, attack: str, outcome: str) -> None:
    """Called once the test's assertions passed: nothing escaped, the outcome is `outcome`."""
    target = os.environ.get(REPORT)
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps({"area": area, "attack": attack, "outcome": outcome}) + "\n")
