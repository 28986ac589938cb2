"""The server's log handler: lines are written to a buffer and flushed a few times a second.

Every API answer logs one line (its log_id). Flushed one by one, each line costs a write
system call under the handler's lock, for which 16 request threads queue: about a sixth of
a `detail`'s CPU time on this machine (bench/bench_serving.py). Here a thread flushes every
FLUSH_SECONDS, a warning or worse is flushed at once, and logging.shutdown (at exit, and
before the server's hard exit) flushes what is left; a server killed with SIGKILL loses at
most the last FLUSH_SECONDS of lines.
"""
import logging
import os
import threading
from typing import TextIO

FLUSH_SECONDS = 0.1


class BufferedHandler(logging.StreamHandler):
    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._closed = threading.Event()
        threading.Thread(target=self._flush_often, name="log-flush", daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line)
                if record.levelno >= logging.WARNING:
                    self.stream.flush()
        except Exception:  # noqa: BLE001 - logging's own rule: a log line never raises
            self.handleError(record)

    def _flush_often(self) -> None:
        while not self._closed.wait(FLUSH_SECONDS):
            self.flush()

    def close(self) -> None:
        self._closed.set()
        self.flush()
        super().close()


def stderr_handler() -> BufferedHandler:
    """A handler onto the process's standard error (its own buffered file on fd 2)."""
    stream = open(os.dup(2), "w", buffering=1 << 16, encoding="utf-8", errors="replace")
    return BufferedHandler(stream)
