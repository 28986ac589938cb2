"""The format of a job's event log (logs/job.log): the runtime's own stamped lines.
Standard library only: the supervisor writes here too, and must start fast.

The job can write into its log directory, so job.log may have been replaced by a link to a
host file, a FIFO or a device: it is opened without following links and checked once open;
anything but a plain file there is removed and the log started afresh."""
import os
import stat
import time
from pathlib import Path

APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def append_event(path: Path | str, line: str) -> None:
    now = time.time()
    milliseconds = int(now * 1000) % 1000
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f".{milliseconds:03d}"
    fd = _open_plain(path)
    try:
        os.write(fd, f"[{stamp}] bmlocal: {line}\n".encode("utf-8", errors="replace"))
    finally:
        os.close(fd)


def _open_plain(path: Path | str) -> int:
    for _ in range(3):
        if _is_special(path):
            os.unlink(path)  # removes a link itself, never what it points to
        try:
            fd = os.open(path, APPEND, 0o644)
        except OSError:
            if _is_special(path):  # swapped since the check: try again
                continue
            raise
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.set_blocking(fd, True)
            return fd
        os.close(fd)
    raise OSError(f"{os.path.basename(path)} keeps being replaced by something not a file")


def _is_special(path: Path | str) -> bool:
    try:
        return not stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
