"""The five training-job operations, in plain arguments and records."""
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmlocal.errors import ApiError
from bmlocal.runtime.clock import Clock
from bmlocal.runtime.joblogs import JobLogs
from bmlocal.runtime.executors.trouble import node_trouble
from bmlocal.runtime.layout import JobDir
from bmlocal.runtime.lognames import LogNames
from bmlocal.runtime.pools import Pools
from bmlocal.runtime.resources import Allocator, Request
from bmlocal.runtime.scheduler import Scheduler
from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.status import JobPhase, Status
from bmlocal.runtime.store import Job, Store

LIST_LIMIT = 100


@dataclass
class JobService:
    store: Store
    scheduler: Scheduler
    allocator: Allocator
    pools: Pools
    clock: Clock
    data_dir: Path
    max_jobs_per_project: int | None
    runs_ccr: bool  # whether CCR jobs can run (a container executor, or --executor process)

    def __post_init__(self) -> None:
        self.log_names = LogNames(self.data_dir)

    def create(self, spec: JobSpec) -> int:
        job_id = self.store.create(spec, self.clock.now(), self.max_jobs_per_project,
                                   last_check=lambda: self._check_runnable(spec))
        self.scheduler.wake(watch=False)
        return job_id

    def _check_runnable(self, spec: JobSpec) -> None:
        """What the spec's rules cannot see: this machine, the quotas, the executor."""
        req = Request.of(0, spec, self.pools)
        if self.allocator.never_fits(req):
            if req.gpu_total > len(self.allocator.gpus):
                raise ApiError(406104)
            if req.kind == "cpu":
                raise ApiError(406101)
            raise ApiError(406008, "[gpu] quota exceeded")
        if spec.env_type == "CCR" and not self.runs_ccr and not req.pool.remote:
            raise ApiError(406034, "training environment error: CCR jobs need a Docker "
                                   "engine (or a server started with --executor process)")

    def stop(self, project: str, job_id: int) -> None:
        job = self._job(project, job_id)
        if job.status.is_terminal():
            raise ApiError(406027)
        # STOPPED at once, a start under way abandoned; one in a cluster's queue is
        # cancelled there first (by the scheduler)
        if job.status == Status.PENDING and job.phase != JobPhase.SUBMITTED:
            moved = self.store.move(job.id, Status.PENDING, Status.STOPPED,
                                    end_time=self.clock.now(), status_reason="stopped by user")
            if moved:
                self.scheduler.runner.cancel(job.id)
                return
        current = self._job(project, job_id)
        if current.status.is_terminal():
            return
        self.store.request_end(job.id, current.status, Status.STOPPED, "stopped by user")
        self.scheduler.wake()

    def delete(self, project: str, job_id: int) -> None:
        job = self._job(project, job_id)
        if not job.status.is_terminal() or not self.store.delete(job.id):
            raise ApiError(406014)
        if job.output_note is None:  # else its outputs are kept until they are delivered
            # moved aside once no worker uses it (a start being abandoned), removed later
            root, trash = JobDir.of(self.data_dir, job.id).root, self.scheduler.runner.trash
            self.scheduler.when_idle(job.id, lambda: trash.discard(root))

    def page(self, project: str, start: int, num: int) -> tuple[int, list[Job]]:
        return self.store.page(project, start, min(num, LIST_LIMIT))

    def detail(self, project: str, job_id: int) -> Job:
        return self._job(project, job_id)

    def run_minutes(self, job: Job) -> int:
        if job.start_time is None:
            return 0
        end = job.end_time if job.end_time is not None else self.clock.now()
        return self.clock.whole_minutes(end - job.start_time)

    def _job(self, project: str, job_id: int) -> Job:
        job = self.store.get(job_id, project)
        if job is None:
            raise ApiError(406012)
        return job

    def job_logs(self, project: str, job_id: int) -> JobLogs:
        """The log files of a job of `project` (406012 for another project's job)."""
        return JobLogs(JobDir.of(self.data_dir, self._job(project, job_id).id).logs)

    def describe(self, job: Job) -> dict[str, Any]:
        extra: dict[str, Any] = {"logs": self.log_names.of(job.id, job.status.is_terminal())}
        trouble = (node_trouble(self.scheduler.executors, self.store.nodes(job.id))
                   if job.status == Status.RUNNING else "")
        if trouble:  # why a running job may not end as it should (an engine that is away)
            extra["status_reason"] = (f"ending: {job.stop_reason}; {trouble}"
                                      if job.stop_reason else trouble)
        return extra
