"""Rows for the benchmarks that print what tests tried (bench/reported_tests.py): one JSON
line appended to the file a variable names, only where a benchmark set it."""
import json
import os
from typing import Any


def append_row(variable: str, row: dict[str, Any]) -> None:
    target = os.environ.get(variable)
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
