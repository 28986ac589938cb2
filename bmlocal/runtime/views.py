"""Read-only views of the runtime for the dashboard, the CLI's `pools` and the metrics: who
holds which GPU, each pool's queue with positions, a job's status history, its nodes and
its output files. Nothing here changes a job."""
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from bmlocal.runtime.clock import Clock
from bmlocal.runtime.joblogs import JobLogs, LogNotFound, read_chunk
from bmlocal.runtime.layout import JobDir
from bmlocal.runtime.pools import Pool, Pools
from bmlocal.runtime.status import JobPhase, Status
from bmlocal.runtime.storage.paths import BosPath, PathError, clean_parts
from bmlocal.runtime.storage.safefs import Entry, NotRegular, open_dir, open_file, scan
from bmlocal.runtime.store import Job, Store

QUEUE_SHOWN = 500  # waiting jobs of each pool listed
HISTORY_BYTES = 1 << 16  # the end of a job's event log read for its history
OUTPUTS_SHOWN = 500
EVENT_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d{3}))?\] bmlocal: (.*)$")


@dataclass(frozen=True)
class Holding:
    gpu: int
    job_id: int
    project: str
    name: str
    rank: int


@dataclass(frozen=True)
class Waiting:
    position: int  # 1 is the next to start in its pool
    job_id: int
    project: str
    name: str
    waited_seconds: float
    node_count: int


@dataclass(frozen=True)
class PoolView:
    key: str  # RESOURCE_TYPE/name, as jobs name it
    pool: Pool
    gpus_total: int
    holdings: list[Holding]
    running_jobs: int
    queue: list[Waiting]

    @property
    def gpus_in_use(self) -> int:
        return len(self.holdings)


@dataclass(frozen=True)
class HistoryEntry:
    time: float
    status: str  # the status entered, or "" for a runtime event within one
    text: str


@dataclass(frozen=True)
class NodeView:
    rank: int
    executor: str
    handle: dict[str, Any]
    exit_code: int | None
    gpus: list[int]


@dataclass
class Views:
    store: Store
    pools: Pools
    gpus: list[int]
    clock: Clock
    data_dir: Path
    local_roots: dict[str, Path]  # output source -> directory, where outputs live here

    # --- pools and queues ----------------------------------------------------------------

    def pool_views(self) -> list[PoolView]:
        active = self.store.running()
        queued = self.store.queued(QUEUE_SHOWN)
        now = self.clock.now()
        return [self._pool_view(pool, active, queued, now) for pool in self.pools.all()]

    def _pool_view(self, pool: Pool, active: list[Job], queued: list[Job], now: float
                   ) -> PoolView:
        key = pool.key
        mine = [job for job in active if job.spec.pool_key == key]
        holdings = [Holding(gpu, job.id, job.project, job.name, rank)
                    for job in mine for rank, gpus in enumerate(job.grant.get("nodes", []))
                    for gpu in gpus]
        waiting = [job for job in queued if job.spec.pool_key == key]
        queue = [Waiting(i + 1, job.id, job.project, job.name, now - job.create_time,
                         job.spec.node_count) for i, job in enumerate(waiting)]
        total = self._gpu_total(pool)
        return PoolView(key, pool, total, sorted(holdings, key=lambda h: h.gpu), len(mine),
                        queue)

    def _gpu_total(self, pool: Pool) -> int:
        """The GPUs a pool can use: its own figures on a cluster, else this machine's."""
        if not pool.uses_gpus:
            return 0
        if pool.remote:
            return pool.max_nodes * pool.gpus_per_node
        return min(len(self.gpus), pool.max_nodes * pool.gpus_per_node)

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job of its pool to start; None unless it waits in a queue."""
        if job.status != Status.PENDING or job.phase != JobPhase.QUEUED:
            return None
        waiting = [j.id for j in self.store.queued(QUEUE_SHOWN)
                   if j.spec.pool_key == job.spec.pool_key]
        return waiting.index(job.id) + 1 if job.id in waiting else None

    # --- one job -------------------------------------------------------------------------

    def nodes(self, job: Job) -> list[NodeView]:
        granted = job.grant.get("nodes", [])
        return [NodeView(rank, str(handle.get("kind", "")), self._shown(handle), code,
                         list(granted[rank]) if rank < len(granted) else [])
                for rank, handle, code in self.store.nodes(job.id)]

    def _shown(self, handle: dict[str, Any]) -> dict[str, Any]:
        """A handle with host paths under the data directory shown relative to it."""
        root = str(self.data_dir).rstrip("/") + "/"
        return {k: "<data-dir>/" + v[len(root):] if isinstance(v, str) and v.startswith(root)
                else v for k, v in handle.items()}

    def history(self, job: Job) -> list[HistoryEntry]:
        """Status changes with their reasons, and the runtime's event lines between them."""
        entries = [HistoryEntry(job.create_time, "PENDING", "created")]
        if job.start_time is not None:
            entries.append(HistoryEntry(job.start_time, "RUNNING", "its nodes started"))
        if job.status.is_terminal() and job.end_time is not None:
            entries.append(HistoryEntry(job.end_time, job.status.value, job.status_reason))
        elif job.stop_reason:
            entries.append(HistoryEntry(self.clock.now(), "", f"ending: {job.stop_reason}"))
        entries += list(self._events(job))
        return sorted(entries, key=lambda e: (e.time, e.status == ""))

    def _events(self, job: Job) -> Iterator[HistoryEntry]:
        logs = JobLogs(JobDir.of(self.data_dir, job.id).logs)
        try:
            with logs.open("job.log") as f:
                size = f.seek(0, 2)
                start = max(size - HISTORY_BYTES, 0)
                text = read_chunk(f, start, HISTORY_BYTES).text
        except LogNotFound:
            return
        lines = text.splitlines()
        for line in lines[1:] if start else lines:  # a line cut by the window is left out
            match = EVENT_LINE.match(line)
            if match:
                stamp = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S"))
                yield HistoryEntry(stamp + int(match.group(2) or 0) / 1000, "",
                                   match.group(3))

    def output_root(self, job: Job) -> tuple[Path, tuple[str, ...]] | None:
        """Where the job's outputs are on this machine: a root and the parts below it."""
        root = self.local_roots.get(job.spec.output_source)
        if root is None:
            return None
        try:
            if job.spec.output_source == "PFS":
                return root, clean_parts(job.spec.output_path)
            bos = BosPath.parse(job.spec.output_path)
            return root, (bos.bucket, *bos.parts)
        except PathError:
            return None

    def outputs(self, job: Job) -> list[Entry]:
        """The plain files under the job's output path, where it is local (links left out)."""
        where = self.output_root(job)
        if where is None:
            return []
        found = []
        try:
            for entry in scan(where[0].joinpath(*where[1])):
                if entry.kind == "file":
                    found.append(entry)
                    if len(found) >= OUTPUTS_SHOWN:
                        break
        except (OSError, NotRegular):
            return found
        return found

    def open_output(self, job: Job, relative: str) -> BinaryIO | None:
        """A plain file under the job's local output path, opened without following a
        link on the way; None when there is no such file."""
        where = self.output_root(job)
        try:
            parts = clean_parts(relative)
        except PathError:
            return None
        if where is None or not parts:
            return None
        *dirs, name = (*where[1], *parts)
        try:
            dir_fd = open_dir(where[0], dirs)
        except OSError:  # absent, not a directory, or a link (NotRegular)
            return None
        try:
            fd = open_file(dir_fd, name)
        except OSError:
            return None
        finally:
            os.close(dir_fd)
        return os.fdopen(fd, "rb")


def local_roots(storages: dict[str, Any]) -> dict[str, Path]:
    """The output sources whose files live on this machine, with their root directory."""
    return {source: storage.root for source, storage in storages.items()
            if isinstance(getattr(storage, "root", None), Path)}
