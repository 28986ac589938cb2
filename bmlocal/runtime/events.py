"""The format of a job's event log (logs/job.log): the runtime's own stamped lines.
Standard library only: the supervisor writes here too, and must start fast."""
import time
from pathlib import Path


def append_event(path: Path | str, line: str) -> None:
    now = time.time()
    milliseconds = int(now * 1000) % 1000
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{milliseconds:03d}"
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"[{stamp}] bmlocal: {line}\n")
