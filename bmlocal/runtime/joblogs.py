"""Reading a job's log files safely: the job can write into its log directory, so a name
there may be a link to a host file, a FIFO or a device. Only plain files directly in the
directory are listed or read, each opened without following links and checked after it is
opened. Reads are bounded chunks from an offset: a multi-GB log never enters memory.

    logs = JobLogs(JobDir.of(data_dir, job_id).logs)
    logs.names()                       -> ["job.log", "node-0.log"]
    chunk = logs.read("node-0.log", offset)   # LogChunk(data, next offset)
    with logs.open("node-0.log") as f:        # a followed log: keep the file open
        chunk = read_chunk(f, offset)
"""
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bmlocal.runtime.storage.safefs import NotRegular, list_dir, open_dir, open_file

LOG_CHUNK = 1 << 16
SUFFIX = ".log"
MAX_FILE_OFFSET = 2**63 - 1  # off_t's largest: a seek past it overflows


class LogNotFound(LookupError):
    """No plain log file of that name: absent, not a log name, or a link or special file."""


@dataclass(frozen=True)
class LogChunk:
    data: bytes
    offset: int  # where the next read starts

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def is_log_name(name: str) -> bool:
    """A name directly in the log directory: no separator, no hidden or partial file."""
    return (name.endswith(SUFFIX) and "/" not in name and "\x00" not in name
            and not name.startswith(".") and len(name.encode(errors="surrogatepass")) <= 255)


class JobLogs:
    def __init__(self, logs_dir: Path) -> None:
        self.dir = logs_dir

    def names(self) -> list[str]:
        """The plain *.log files of the directory, sorted; links and special files left out."""
        return [e.path for e in list_dir(self.dir) if e.kind == "file" and is_log_name(e.path)]

    def open(self, name: str) -> BinaryIO:
        """The log file `name`, opened for reading; LogNotFound unless it is a plain file
        directly in the directory. The descriptor stays on that file even if the job later
        replaces the name."""
        if not is_log_name(name):
            raise LogNotFound(name)
        try:
            dir_fd = open_dir(self.dir)
        except (FileNotFoundError, NotADirectoryError, NotRegular):
            raise LogNotFound(name) from None
        try:
            fd = open_file(dir_fd, name)
        except (FileNotFoundError, NotRegular, PermissionError):
            raise LogNotFound(name) from None
        finally:
            os.close(dir_fd)
        return os.fdopen(fd, "rb")

    def read(self, name: str, offset: int, limit: int = LOG_CHUNK) -> LogChunk:
        """Up to `limit` bytes of `name` from `offset`, ending on a whole UTF-8 character;
        an empty chunk at `offset` when the file is absent or has nothing more yet."""
        try:
            with self.open(name) as f:
                return read_chunk(f, offset, limit)
        except LogNotFound:
            return LogChunk(b"", offset)


def read_chunk(f: BinaryIO, offset: int, limit: int = LOG_CHUNK) -> LogChunk:
    """Up to `limit` bytes of the open file `f` from `offset`; a character cut by the limit
    is left for the next read. Past the file's end there is nothing yet: no seek there (the
    kernel refuses a read past the file system's largest file)."""
    if offset >= os.fstat(f.fileno()).st_size:
        return LogChunk(b"", offset)
    f.seek(offset)
    data = f.read(limit)
    data = data[:len(data) - partial_tail(data)]
    return LogChunk(data, offset + len(data))


def partial_tail(data: bytes) -> int:
    """How many bytes at the end of `data` begin a UTF-8 character cut off by the chunk
    limit: they are left for the next read rather than sent as a replacement character."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): is its character complete?
            needed = 1 if byte < 0xC0 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back if needed > back else 0
    return 0
