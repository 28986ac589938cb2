"""Forgetting every job at once (bmlocal's admin reset), so that a whole test suite can share
one server: in milliseconds, with nothing left running and nothing half known.

The order matters: simulated PENDING waits end first (they hold the scheduler's workers),
then, with the loop paused and no worker at work, the store is emptied in one transaction,
real nodes still running are killed, their grants go back and the job directories are moved
aside (removed by the trash's thread, off the request).
"""
import logging

from bmlocal.runtime.executors.simulate import SimulateExecutor
from bmlocal.runtime.faults import describe
from bmlocal.runtime.scheduler import Scheduler

log = logging.getLogger("bmlocal.reset")


def reset_jobs(scheduler: Scheduler, simulate: SimulateExecutor | None) -> int:
    """Remove every job; how many there were."""
    if simulate is not None:
        simulate.begin_reset()
    try:
        with scheduler.paused():
            ids, handles = scheduler.store.remove_all_jobs()
            for handle in handles:
                try:
                    scheduler.executors.for_handle(handle).kill(handle)
                except Exception as exc:  # an engine that does not answer: logged, not fatal
                    log.warning("reset: node %s not killed: %s", handle.get("kind"),
                                describe(exc))
            for job_id in ids:
                scheduler.allocator.release(job_id)
                scheduler.runner.delivery.abandon(job_id)
            scheduler.runner.trash.discard(scheduler.runner.data_dir / "jobs")
    finally:
        if simulate is not None:
            simulate.end_reset()
    log.info("reset: %d job(s) forgotten", len(ids))
    return len(ids)
