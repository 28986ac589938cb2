"""The log names of each job, listed again only when its log directory changed.

Every detail answers its job's log names; listing the directory (open, read, one lstat a
name) costs more than the rest of the answer. A directory's names can change only through
an entry added, removed or renamed, which moves its mtime, so a listing is reused while the
directory's identity and times stay the same. File systems stamp times from a coarse clock:
a listing is kept only once its directory is a second old, so that a change in the same
tick as the listing cannot hide behind an unchanged time. Once a job has ended, nothing of
it is left to add a name (its processes are gone), so a listing kept after its end is
answered without even a stat: under concurrent requests a system call is a thread switch.
"""
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

from bmlocal.runtime.joblogs import JobLogs

SETTLED_NS = 1_000_000_000


class LogNames:
    def __init__(self, data_dir: Path, limit: int = 4096) -> None:
        self._jobs = os.path.join(data_dir, "jobs")
        self._limit = limit
        self._lock = threading.Lock()
        # job id -> (the directory's identity and times, its names, listed after the end)
        self._kept: OrderedDict[int, tuple[tuple[int, ...], list[str], bool]] = OrderedDict()

    def of(self, job_id: int, ended: bool = False) -> list[str]:
        """The plain *.log files of the job's log directory, sorted (JobLogs.names)."""
        with self._lock:
            kept = self._kept.get(job_id)
        if kept is not None and kept[2]:
            return list(kept[1])
        path = os.path.join(self._jobs, str(job_id), "logs")
        try:
            st = os.stat(path)
        except OSError:
            return []
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        if kept is not None and kept[0] == key:
            return list(kept[1])
        names = JobLogs(Path(path)).names()
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > SETTLED_NS:
            with self._lock:
                self._kept[job_id] = (key, list(names), ended)
                while len(self._kept) > self._limit:
                    self._kept.popitem(last=False)
        return names
