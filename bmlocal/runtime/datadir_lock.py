"""One server per data directory: an fcntl lock on a file in it, held for the server's
life (the kernel lets it go when the process ends, a kill -9 included)."""
import fcntl
import os
from pathlib import Path

from bmlocal.config import ConfigError

LOCK_NAME = "server.lock"


def lock_data_dir(data_dir: Path) -> int:
    """Take the data directory's lock; its descriptor, to keep open. ConfigError naming the
    other server's pid when it holds the lock."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(f"data directory {data_dir} is in use by another bmlocal server "
                          f"(pid {other}): stop it, or start this one with another "
                          "--data-dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
