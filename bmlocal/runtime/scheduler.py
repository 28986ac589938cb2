"""The one loop that admits waiting jobs, watches running ones and enforces deadlines.

Each job status has one step function:
- PENDING/queued  -> PENDING/starting (resources granted; staging runs on a worker)
- PENDING/starting -> RUNNING, or FAILED (staging failed), or STOPPED (stopped meanwhile)
- RUNNING         -> being ended (a node failed, max_duration, stop) -> SUCCESSED | FAILED
                     | STOPPED, only once the executor says nothing of the job runs.
"""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Callable, Iterator

from bmlocal.errors import ApiError
from bmlocal.runtime.clock import Clock
from bmlocal.runtime.executors.base import NODE_LOST, OUT_OF_MEMORY
from bmlocal.runtime.executors.queued import watch_submitted
from bmlocal.runtime.executors.select import Executors
from bmlocal.runtime.executors.trouble import end_reason
from bmlocal.runtime.faults import Troubles, describe
from bmlocal.runtime.pools import Pools
from bmlocal.runtime.resources import Allocator, Request
from bmlocal.runtime.runner import Runner
from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.status import JobPhase, Status
from bmlocal.runtime.store import Job, Store
from bmlocal.runtime.wakeup import Wakeup

log = logging.getLogger("bmlocal.scheduler")
KILL_MARGIN_SECONDS = 5.0
# When a node fails, its peers often fail too, sometimes a moment before it (their
# collective broke). Wait this long for the others before naming the node that failed,
# and prefer a node whose exit code is not a typical consequence of a peer's failure.
SETTLE_SECONDS = 1.5
CONSEQUENTIAL = frozenset({1, 134, 137, 143, NODE_LOST})
QUEUE_WINDOW = 256  # waiting jobs of each pool considered per pass, oldest first
ADMIT_EVERY_SECONDS = 1.0  # a safety net: admission also runs whenever something changed


class Scheduler:
    def __init__(self, store: Store, runner: Runner, executors: Executors,
                 allocator: Allocator, pools: Pools, clock: Clock,
                 grace: float, tick: float = 0.05, workers: int = 32,
                 wakeup: Wakeup | None = None, redeliver_every: float = 30.0) -> None:
        self.store = store
        self.runner = runner
        self.executors = executors
        self.allocator = allocator
        self.pools = pools
        self.clock = clock
        self.grace = grace
        self.tick = tick
        # One thread per job at work (staging, starting, wrapping up): a slow store or
        # engine holds only the jobs that wait on it.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bmlocal-job")
        self._busy: set[int] = set()
        self._busy_lock = threading.Lock()
        self._after_work: dict[int, Callable[[], None]] = {}  # job -> what to do once idle
        self._stopping: dict[int, float] = {}  # job -> when SIGTERM was sent
        self._exit_seen: dict[tuple[int, int], float] = {}  # (job, rank) -> when
        self._requests: dict[int, Request] = {}  # waiting job -> what it asks for
        self.wakeup = wakeup or Wakeup()
        self._last_admit = self._last_watch = 0.0
        self._troubles = Troubles(runner, runner.host_roots)
        self.redeliver_every = redeliver_every
        self._last_redelivery = time.monotonic()
        self._step_lock = threading.Lock()  # held by each pass, and by paused()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle of the loop -------------------------------------------------------------

    def recover(self) -> None:
        """Adopt what an earlier server left running; call before serving requests. It ends
        whatever the engines do: starts cut short by a crash are undone by the loop, on
        workers, and retried there while an engine does not answer."""
        try:
            self._sweep()
        except Exception as exc:  # an engine that does not answer: swept at a later start
            log.warning("orphan containers not swept: %s", describe(exc))
        for job in self.store.running():
            if job.status == Status.RUNNING:
                self._guarded(job, "adopting it", self._adopt)
        self.redeliver()

    def _adopt(self, job: Job) -> None:
        self.allocator.reserve(job.id, job.project, job.grant)
        self.runner.delivery.start(job)
        for _, handle, code in self.store.nodes(job.id):
            if code is None:
                self.executors.for_handle(handle).adopt(handle)

    def redeliver(self) -> None:
        """Try again the outputs that did not all reach their store, deleted jobs' too."""
        for job in self.store.undelivered():
            self._submit(job, self.runner.redeliver)
        for job in self.store.undelivered(deleted=True):
            self._submit(job, self.runner.redeliver_deleted)

    def _sweep(self) -> None:
        """Remove containers that no stored node knows (a crash between start and save)."""
        container = self.executors.container
        if container is None:
            return
        known = {handle.get("id") for job in self.store.running()
                 for _, handle, _ in self.store.nodes(job.id)}
        for name in container.sweep({k for k in known if k}):
            log.warning("removed orphan container %s", name)

    def _undo_start(self, job: Job) -> None:
        """A start cut short by a crash: end whatever nodes began, queue the job again."""
        fresh = self.store.get(job.id)  # `job` may be read before a worker moved it on
        if fresh is None or fresh.status != Status.PENDING or fresh.phase != JobPhase.STARTING:
            return
        self.runner.abandon_nodes(job)
        if job.end_status is not None:
            self.store.move(job.id, Status.PENDING, Status.STOPPED, end_time=self.clock.now(),
                            status_reason=job.stop_reason or "stopped by user")
        else:
            self.store.update(job.id, Status.PENDING, phase=JobPhase.QUEUED, grant=None)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bmlocal-scheduler",
                                        daemon=True)
        self._thread.start()

    def shutdown(self, wait: float = 10.0) -> bool:
        """Stop watching; running jobs go on under their supervisors. Starts under way are
        given up (the next start queues them again) and other work gets `wait` seconds:
        False if some is still under way then (the next start takes it up, as after a
        crash)."""
        self._halt.set()
        self.wakeup.wake(admit=False)
        if self._thread:
            self._thread.join(timeout=5)
        self.runner.cancel_all()
        self._pool.shutdown(wait=False)
        idle = self._wait_idle(wait)
        self.executors.close()
        return idle

    def _wait_idle(self, timeout: float, every: float = 0.05) -> bool:
        """Whether no worker is at work, waiting at most `timeout` seconds for that."""
        deadline = time.monotonic() + timeout
        while True:
            with self._busy_lock:
                if not self._busy:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(every)

    def wake(self, admit: bool = True, watch: bool = True) -> None:
        self.wakeup.wake(admit, watch)

    def _loop(self) -> None:
        while not self._halt.is_set():
            try:
                with self._step_lock:
                    self.step()
            except Exception:  # the loop must outlive any trouble, the store's included
                log.exception("scheduler step failed")
            self.wakeup.wait(self.tick)

    # --- one pass ----------------------------------------------------------------------

    def step(self) -> None:
        now = time.monotonic()
        if self.wakeup.admit_needed or now - self._last_admit > ADMIT_EVERY_SECONDS:
            self.wakeup.admit_needed, self._last_admit = False, now
            self.admit_waiting()
        # a pass for a create or a freed slot admits only; one for a node's end or a
        # worker's watches that job only; every running job is watched at every tick
        named = self.wakeup.jobs_to_watch()
        if self.wakeup.watch_needed or now - self._last_watch >= self.tick:
            self.wakeup.watch_needed, self._last_watch = False, now
            self.watch_running()
        else:
            self.watch_jobs(named)
        if now - self._last_redelivery > self.redeliver_every:
            self._last_redelivery = now
            self.redeliver()

    def watch_running(self) -> None:
        for job in self.store.running():  # each job on its own: one's trouble is its own
            self._watch_one(job)

    def watch_jobs(self, job_ids: set[int]) -> None:
        for job_id in sorted(job_ids):
            job = self.store.get(job_id)
            if job is not None and job.under_way:
                self._watch_one(job)

    def _watch_one(self, job: Job) -> None:
        if self._is_busy(job.id) or not self._troubles.due(job.id):
            return
        if job.status == Status.RUNNING:
            self._guarded(job, "watching it", self.watch)
        elif job.phase == JobPhase.SUBMITTED:  # in its cluster's queue (Slurm)
            self._guarded(job, "watching it in its cluster's queue",
                          lambda j: watch_submitted(self, j))
        else:  # starting, and no worker on it: a start cut short by a crash
            self._submit(job, self._undo_start)

    def _guarded(self, job: Job, doing: str, work: Callable[[Job], None]) -> None:
        try:
            work(job)
        except Exception as exc:
            self._troubles.failed(job, doing, exc)
        else:
            self._troubles.cleared(job.id, doing)

    def admit_waiting(self) -> None:
        """Start what may start among the oldest waiting jobs of each pool."""
        if self.allocator.has_free():
            self.admit(self.store.queued_specs(QUEUE_WINDOW))

    def admit(self, queued: list[tuple[int, JobSpec]]) -> None:
        # a pass runs at every create and every end: each waiting job's request is worked
        # out once, not at every pass
        known, self._requests = self._requests, {}
        for job_id, spec in queued:
            try:
                self._requests[job_id] = known.get(job_id) or Request.of(job_id, spec,
                                                                          self.pools)
            except ApiError:
                job = self.store.get(job_id)
                if job is not None:
                    self.runner.fail_start(job, "its resource pool is no longer configured")
        for request, grant in self.allocator.admit(list(self._requests.values())):
            job_id = request.job_id
            self._requests.pop(job_id, None)
            job = self.store.get(job_id) if self.store.update(
                job_id, Status.PENDING, phase=JobPhase.STARTING, grant=grant) else None
            if job is not None:
                self._submit(job, self.runner.launch)
            else:  # stopped or deleted meanwhile
                self.allocator.release(job_id)

    def watch(self, job: Job) -> None:
        exits = self._poll_nodes(job)
        if job.end_status is None:
            job = self._decide_end(job, exits)
        if job.end_status is None:
            return
        if None in exits.values():
            self._ending(job)
            return
        self._stopping.pop(job.id, None)
        for rank in exits:
            self._exit_seen.pop((job.id, rank), None)
        self._submit(job, self._wrap_up)

    def _wrap_up(self, job: Job) -> None:
        reason = end_reason(job.stop_reason or "", self.store.nodes(job.id))
        self.runner.finish(job, job.end_status or Status.FAILED, reason)

    def _poll_nodes(self, job: Job) -> dict[int, int | None]:
        exits: dict[int, int | None] = {}
        for rank, handle, code in self.store.nodes(job.id):
            if code is None:
                code = self.executors.for_handle(handle).poll(handle)
                if code is not None:
                    self.store.set_exit(job.id, rank, code)
                    self._exit_seen[(job.id, rank)] = time.monotonic()
            exits[rank] = code
        return exits

    def _decide_end(self, job: Job, exits: dict[int, int | None]) -> Job:
        """The job, with how it ends once that is decided."""
        failed = [(rank, code) for rank, code in exits.items() if code not in (None, 0)]
        if failed:
            seen = [self._exit_seen.get((job.id, rank), 0.0) for rank, _ in failed]
            if None in exits.values() and time.monotonic() - min(seen) < SETTLE_SECONDS:
                return job
            rank, code = min(failed, key=lambda f: (f[1] in CONSEQUENTIAL,
                                                    self._exit_seen.get((job.id, f[0]), 0.0)))
            return self._end(job, Status.FAILED, self._failure(job, rank, code))
        if exits and all(code == 0 for code in exits.values()):
            return self._end(job, Status.SUCCESSED, "every node exited with code 0")
        if self.clock.now() >= self.deadline(job):
            hours = job.spec.max_duration
            return self._end(job, Status.FAILED, f"max duration exceeded ({hours} h)")
        return job

    def _failure(self, job: Job, rank: int, code: int) -> str:
        handle = next(h for r, h, _ in self.store.nodes(job.id) if r == rank)
        note = self.executors.for_handle(handle).exit_note(handle)
        if code == NODE_LOST:
            return f"node {rank} was lost: its supervisor ended without an exit code" + (
                f" ({note})" if note else "")
        limit = f" ({job.grant.get('memory')} GB)" if note == OUT_OF_MEMORY else ""
        return f"node {rank} exited with code {code}" + (f": {note}{limit}" if note else "")

    def deadline(self, job: Job) -> float:
        return (job.start_time or self.clock.now()) + self.clock.hours(job.spec.max_duration)

    def _end(self, job: Job, status: Status, reason: str) -> Job:
        if not self.store.request_end(job.id, Status.RUNNING, status, reason):
            fresh = self.store.get(job.id)
            if fresh is None or fresh.end_status is None:
                return job
            status, reason = fresh.end_status, fresh.stop_reason or reason
        return replace(job, end_status=status, stop_reason=reason)

    def _ending(self, job: Job) -> None:
        """SIGTERM every node once; SIGKILL what is left if the supervisors do not finish."""
        sent = self._stopping.get(job.id)
        nodes = [(h, c) for _, h, c in self.store.nodes(job.id) if c is None]
        if sent is None:
            self._stopping[job.id] = time.monotonic()
            self.runner.event(job, f"ending: {job.stop_reason}; SIGTERM to every process, "
                                   f"SIGKILL after {self.grace:g} s")
            for handle, _ in nodes:
                self.executors.for_handle(handle).stop(handle, self.grace)
        elif time.monotonic() - sent > self.grace + KILL_MARGIN_SECONDS:
            for handle, _ in nodes:
                self.executors.for_handle(handle).kill(handle)

    # --- workers -----------------------------------------------------------------------

    def _is_busy(self, job_id: int) -> bool:
        with self._busy_lock:
            return job_id in self._busy

    def _submit(self, job: Job, work: Callable[[Job], None]) -> None:
        with self._busy_lock:
            if job.id in self._busy:
                return
            self._busy.add(job.id)
        self._pool.submit(self._run, job, work)

    def _run(self, job: Job, work: Callable[[Job], None]) -> None:
        try:  # "launch failed: ...", "wrap up failed: ..."
            if not self._halt.is_set():  # shutting down: left to the next start
                self._guarded(job, getattr(work, "__name__", "work").strip("_")
                              .replace("_", " "), work)
        finally:
            with self._busy_lock:
                self._busy.discard(job.id)
                after = self._after_work.pop(job.id, None)
            if after is not None:
                after()
            self.wakeup.watch_job(job.id, admit=True)

    def when_idle(self, job_id: int, action: Callable[[], None]) -> None:
        """Do `action` now, or once the work in progress on the job ends."""
        with self._busy_lock:
            if job_id in self._busy:
                self._after_work[job_id] = action
                return
        action()

    @contextmanager
    def paused(self, timeout: float = 10.0) -> Iterator[None]:
        """No pass runs and no worker is at work (within `timeout`) while the body runs;
        after it, the loop forgets what it knew of jobs (bmlocal's admin reset empties the
        store in the body)."""
        with self._step_lock:
            self._wait_idle(timeout, every=0.001)
            yield
            with self._busy_lock:
                self._after_work.clear()
            self._stopping.clear()
            self._exit_seen.clear()
            self._troubles = Troubles(self.runner, self.runner.host_roots)
