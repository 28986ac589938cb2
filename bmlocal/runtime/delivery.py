"""Outputs and logs on their way to `output_path`: streamed while a job runs where the
output lives in a store (BOS), delivered once more after it ends, however it ends."""
import threading
from dataclasses import dataclass
from pathlib import Path

from bmlocal.runtime.faults import describe, host_roots
from bmlocal.runtime.layout import JobDir
from bmlocal.runtime.storage.base import Storage
from bmlocal.runtime.storage.paths import PathError
from bmlocal.runtime.storage.sync import OutputSync
from bmlocal.runtime.store import Job


@dataclass(frozen=True)
class Target:
    """One local directory and where its files belong."""
    local: Path
    path: str


class Delivery:
    def __init__(self, storages: dict[str, Storage], data_dir: Path, interval: float,
                 final_timeout: float, give_up_seconds: float = 86400.0) -> None:
        self.storages = storages
        self.data_dir = data_dir
        self.interval = interval
        self.final_timeout = final_timeout
        self.give_up_seconds = give_up_seconds  # for a deleted job's outputs
        self._running: dict[int, list[OutputSync]] = {}
        self._lock = threading.Lock()

    def targets(self, job: Job) -> list[Target]:
        """What is streamed for a job: for PFS nothing (the job writes in place)."""
        spec, jd = job.spec, JobDir.of(self.data_dir, job.id)
        if spec.output_source == "PFS":
            return []
        out = self.storages[spec.output_source].output_dir(spec.output_path, jd.scratch_output)
        return [Target(out, spec.output_path),
                Target(jd.logs, spec.output_path.rstrip("/") + "/logs")]

    def syncs(self, job: Job) -> list[OutputSync]:
        storage = self.storages[job.spec.output_source]
        events = JobDir.of(self.data_dir, job.id).event
        return [OutputSync(storage, t.local, t.path, self.interval, events)
                for t in self.targets(job)]

    def start(self, job: Job) -> None:
        """Begin streaming (at RUNNING, and again for a job adopted after a restart)."""
        syncs = self.syncs(job)
        for sync in syncs:
            sync.start()
        with self._lock:
            self._running[job.id] = syncs

    def abandon(self, job_id: int) -> None:
        """Stop streaming a forgotten job's outputs after one last try (an admin reset)."""
        with self._lock:
            syncs = self._running.pop(job_id, None) or []
        for sync in syncs:
            sync.finish(0.0)

    def finish(self, job: Job) -> str | None:
        """The last delivery; None when everything is at `output_path`, else what is not."""
        with self._lock:
            syncs = self._running.pop(job.id, None)
        try:
            if job.spec.output_source == "PFS":
                self._logs_into_pfs(job)
                return None
            if syncs is None:  # ended while no server watched it: deliver everything now
                syncs = self.syncs(job)
        except (OSError, PathError) as exc:
            why = describe(exc, host_roots(self.data_dir, self.storages))
            return f"outputs could not all be delivered: {why}"
        notes = [note for note in (s.finish(self.final_timeout) for s in syncs) if note]
        return "; ".join(notes) or None

    def _logs_into_pfs(self, job: Job) -> None:
        jd = JobDir.of(self.data_dir, job.id)
        if jd.logs.exists():  # the job's own links and special files are not followed
            for note in self.storages["PFS"].copy_logs(jd.logs, job.spec.output_path):
                jd.event(note)
