"""Jobs that wait in an executor's own queue (a Slurm pool): PENDING, phase "submitted",
until the cluster runs them; their status_reason says what the cluster says (Slurm's state
and reason). Executors that queue offer `started(handle)` and `describe(handle)`.
"""
from typing import TYPE_CHECKING

from bmlocal.runtime.status import JobPhase, Status
from bmlocal.runtime.store import Job

if TYPE_CHECKING:
    from bmlocal.runtime.scheduler import Scheduler


def watch_submitted(scheduler: "Scheduler", job: Job) -> None:
    """RUNNING once the cluster runs it; STOPPED once a stopped job is gone from the queue;
    FAILED when the cluster ended it before it ran; else its reason kept up to date."""
    nodes = scheduler.store.nodes(job.id)
    if not nodes:
        return
    handle = nodes[0][1]
    executor = scheduler.executors.for_handle(handle)
    if job.end_status is not None:
        _end_waiting(scheduler, job, nodes)
        return
    if not hasattr(executor, "started"):
        return  # its executor is not configured now: the job waits for it
    if executor.started(handle):
        if scheduler.store.move(job.id, Status.PENDING, Status.RUNNING,
                                when_phase=JobPhase.SUBMITTED, start_time=scheduler.clock.now(),
                                phase=JobPhase.RUNNING, status_reason=""):
            scheduler.runner.event(job, f"RUNNING: {executor.describe(handle)}")
            scheduler.runner.delivery.start(job)
        return
    reason = executor.describe(handle)
    if reason != job.status_reason:
        scheduler.store.update(job.id, Status.PENDING, status_reason=reason)


def _end_waiting(scheduler: "Scheduler", job: Job, nodes: list) -> None:
    """Cancel in the cluster; the job ends once the cluster has let go of it."""
    codes = []
    for _, handle, _ in nodes:
        executor = scheduler.executors.for_handle(handle)
        executor.stop(handle, scheduler.grace)
        codes.append(executor.poll(handle))
    if None in codes:
        return
    status = job.end_status or Status.STOPPED
    if scheduler.store.move(job.id, Status.PENDING, status, end_time=scheduler.clock.now(),
                            status_reason=job.stop_reason or "stopped by user"):
        scheduler.runner.event(job, f"{status.value} before it ran: {job.stop_reason}")
        scheduler.runner.on_release(job.id)
