"""The server's own log: lines formatted where they are made, written by one thread in
batches.

Every API call logs a line with its log_id (a successful one at DEBUG, an error at INFO),
so that a client's answer can be found in the server's log. Written at once, each line was a
write(2) made while holding the handler's lock, and with 16 request threads every such call
hands the GIL to another thread: a fifth of `detail`'s throughput at 16 concurrent clients.
Lines now reach the stream within BATCH_SECONDS; a `kill -9` loses at most those.
"""
import logging
import os
import sys
import threading
import time
from collections import deque
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}
BATCH_SECONDS = 0.02


class BatchedHandler(logging.Handler):
    def __init__(self, stream: TextIO, every: float = BATCH_SECONDS) -> None:
        super().__init__()
        self.stream = stream
        self._every = every
        self._lines: deque[str] = deque()
        self._ready = threading.Event()
        self._writing = threading.Lock()
        self._closed = False
        self._writer: threading.Thread | None = threading.Thread(
            target=self._run, name="bmlocal-log", daemon=True)
        self._writer.start()
        os.register_at_fork(after_in_child=self._in_child)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._lines.append(self.format(record) + "\n")
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)
            return
        if self._writer is None:
            self.flush()
        elif not self._ready.is_set():
            self._ready.set()

    def flush(self) -> None:
        with self._writing:
            lines = []
            while self._lines:
                lines.append(self._lines.popleft())
            if lines:
                self.stream.write("".join(lines))
                self.stream.flush()

    def close(self) -> None:
        self._closed = True
        self._ready.set()
        self.flush()
        super().close()

    def _run(self) -> None:
        while not self._closed:
            self._ready.wait()
            time.sleep(self._every)  # the lines of the next moments join this write
            self._ready.clear()
            self.flush()

    def _in_child(self) -> None:
        """A forked child has no writer thread: it writes its own lines at once (the
        parent's lines are the parent's to write)."""
        self._writer = None
        self._writing = threading.Lock()
        self._lines.clear()


class OncePer(logging.Filter):
    """One record through every `seconds`, saying how many it held back since the last.

    waitress warns "Task queue depth is N" at every request that finds its threads busy:
    with 16 clients, 100 lines a second that all say the server is saturated."""

    def __init__(self, seconds: float = 60.0) -> None:
        super().__init__()
        self._seconds = seconds
        self._next = 0.0
        self._held = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                self._held += 1
                return False
            held, self._held, self._next = self._held, 0, now + self._seconds
        if held:
            record.msg = f"{record.msg} ({held} more since the last such line)"
        return True


def quiet_queue_warnings(seconds: float = 60.0) -> None:
    """waitress's queue-depth warnings at most once every `seconds` (once per process)."""
    queue = logging.getLogger("waitress.queue")
    if not any(isinstance(f, OncePer) for f in queue.filters):
        queue.addFilter(OncePer(seconds))


def configure(stream: TextIO = sys.stderr, level: str = "info") -> None:
    """bmlocal's lines from `level` (a key of LEVELS) and everyone's from INFO to `stream`,
    in batches. Records skip what the format does not show (the settings of the logging
    HOWTO's "Optimization": a caller's frame, thread and process)."""
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = BatchedHandler(stream)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("bmlocal").setLevel(LEVELS[level])
