"""Jobs read by id, kept in memory until the store writes them.

A `detail` reads one job. SQLite answers in microseconds, but the sqlite3 module lets go of
the GIL around each step, and with 16 request threads waiting every release is a handoff
between threads: served at 16 concurrent clients, the read cost a third of the throughput.
The store is the only writer (one server a data directory), so it forgets a job when it
writes it, and a read that raced a write is not kept.
"""
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bmlocal.runtime.store import Job


class JobCache:
    def __init__(self, limit: int = 4096) -> None:
        self._jobs: dict[int, "Job"] = {}
        self._limit = limit
        self._writes = 0
        self._lock = threading.Lock()

    def get(self, job_id: int) -> "Job | None":
        return self._jobs.get(job_id)

    def mark(self) -> int:
        """Taken before reading the database: `keep` refuses what a write may have changed."""
        return self._writes

    def keep(self, job: "Job", mark: int) -> None:
        with self._lock:
            if self._writes != mark:  # some write committed while the row was read
                return
            self._jobs[job.id] = job
            while len(self._jobs) > self._limit:
                del self._jobs[next(iter(self._jobs))]

    def forget(self, job_id: int | None = None) -> None:
        """After a write committed: the job (every job: None) is read again."""
        with self._lock:
            self._writes += 1
            if job_id is None:
                self._jobs.clear()
            else:
                self._jobs.pop(job_id, None)
