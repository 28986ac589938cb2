"""Starting a job's nodes and wrapping a job up once nothing of it runs."""
import logging
import threading
import time
from pathlib import Path
from typing import Callable

from bmlocal import metrics
from bmlocal.launchers import node_command
from bmlocal.launchers.base import Topology
from bmlocal.replay import provenance
from bmlocal.runtime import rdma
from bmlocal.runtime.cancel import Cancelled, cancellable
from bmlocal.runtime.clock import Clock
from bmlocal.runtime.delivery import Delivery
from bmlocal.runtime.environment import job_variables
from bmlocal.runtime.executors.base import Executor, JobPaths, NodeSpec
from bmlocal.runtime.executors.select import Executors, Unavailable
from bmlocal.runtime.faults import describe, host_roots
from bmlocal.runtime.layout import JobDir
from bmlocal.runtime.ports import free_ports
from bmlocal.runtime.status import JobPhase, Status
from bmlocal.runtime.storage.base import Storage
from bmlocal.runtime.storage.staging import remove_tree, stage_in
from bmlocal.runtime.store import Job, Store
from bmlocal.runtime.trash import Trash

log = logging.getLogger("bmlocal.runner")
ABANDON_WAIT_SECONDS = 10.0  # for killed nodes to be seen ended


class StagingError(Exception):
    """The job's inputs could not be staged; the job fails with this message."""


class NodesUnknown(RuntimeError):
    """A node of a start being undone cannot be seen to end (its engine does not answer)."""


class Runner:
    def __init__(self, store: Store, executors: Executors, storages: dict[str, Storage],
                 data_dir: Path, clock: Clock, grace: float, delivery: Delivery,
                 on_release: Callable[[int], None], machine_has_gpus: bool = False,
                 trash: Trash | None = None) -> None:
        self.store = store
        self.executors = executors
        self.storages = storages
        self.data_dir = data_dir
        self.clock = clock
        self.grace = grace
        self.delivery = delivery
        self.on_release = on_release
        self.machine_has_gpus = machine_has_gpus
        self.trash = trash or Trash(data_dir)
        self._cancels: dict[int, threading.Event] = {}  # jobs being started

    @property
    def host_roots(self) -> list[str]:
        return host_roots(self.data_dir, self.storages)

    def job_dir(self, job: Job) -> JobDir:
        return JobDir.of(self.data_dir, job.id)

    def event(self, job: Job, line: str) -> None:
        try:
            self.job_dir(job).event(line)
        except OSError as exc:  # a full disk must not turn into a job's failure
            log.warning("job %s: event not written (%s): %s", job.id, exc.strerror, line)

    def cancel_all(self) -> None:
        """Give up every start under way (the server is shutting down)."""
        for cancel in list(self._cancels.values()):
            cancel.set()

    def cancel(self, job_id: int) -> None:
        """Ask the start of a job to stop at its next check (the job is STOPPED already)."""
        cancel = self._cancels.get(job_id)
        if cancel is not None:
            cancel.set()

    # --- start --------------------------------------------------------------------------

    def launch(self, job: Job) -> None:
        """Stage a job that holds its resources, start its nodes, and mark it RUNNING. Any
        failure ends it FAILED with a reason; a stop meanwhile leaves it STOPPED; either way
        its resources come back."""
        cancel = self._cancels.setdefault(job.id, threading.Event())
        try:
            with cancellable(cancel.is_set):  # reaches into the copies of staging
                self._launch(job, cancel)
        except Exception as exc:  # a bug or an engine's surprise: this job ends, not the rest
            log.warning("job %s: start failed", job.id, exc_info=exc)
            self._start_failed(job, exc)
        finally:
            self._cancels.pop(job.id, None)

    def _launch(self, job: Job, cancel: threading.Event) -> None:
        try:
            paths = self.stage(job, cancel)
        except Exception as exc:  # hostile archives, a store that is down, a full disk, ...
            if cancel.is_set():  # stopped while it staged (Cancelled, or what it caused)
                self._stop_requested(job)
                return
            why = describe(exc, self.host_roots)
            self.event(job, f"staging failed: {why}")
            for partial in (self.job_dir(job).code, self.job_dir(job).train,
                            self.job_dir(job).eval):  # the space goes back at once
                remove_tree(partial)
            self.fail_start(job, f"staging failed: {why}")
            return
        if self._stop_requested(job):
            return
        executor = self.executors.for_job(job.spec)
        if job.spec.env_type == "CCR" and executor.name == "process":  # not simulate
            self.event(job, f"CCR image {job.spec.image}:{job.spec.tag} is not used: the "
                            "server runs with --executor process, so the job runs on the host")
        master_port, aux_port = free_ports(2)
        ib = self._rdma(job)
        try:
            self._start_nodes(job, executor, paths, (master_port, aux_port), ib)
        except Exception as exc:  # an engine error, an image that cannot be had, ...
            log.warning("job %s: start failed: %s", job.id, exc)
            if getattr(exc, "job_waits", False):  # its cluster does not answer now
                self._requeue(job, exc)
            else:
                self._start_failed(job, exc)
            return
        now = self.clock.now()
        queues = getattr(executor, "queues", False)  # RUNNING once its cluster runs it
        if queues and self.store.update(job.id, Status.PENDING, phase=JobPhase.SUBMITTED):
            self.event(job, f"submitted: {job.spec.node_count} node(s) on {executor.name}")
        elif not queues and self.store.move(job.id, Status.PENDING, Status.RUNNING,
                                            start_time=now, phase=JobPhase.RUNNING):
            self.event(job, f"RUNNING: {job.spec.node_count} node(s) on {executor.name}")
            self.delivery.start(job)
        else:  # stopped (and perhaps deleted) while its nodes started
            self.abandon_nodes(job)
            self._stop_requested(job)

    def _start_failed(self, job: Job, exc: Exception) -> None:
        metrics.executor_failed("start")
        why = describe(exc, self.host_roots)
        self.event(job, f"could not start: {why}")
        try:
            self.abandon_nodes(job)
        except Exception as err:  # its containers go with the next start's sweep
            self.event(job, f"nodes of the failed start not removed: {describe(err)}")
        self.fail_start(job, f"could not start: {why}")

    def _rdma(self, job: Job) -> list[str] | None:
        """InfiniBand devices for a job that asks for RDMA; None when it does not."""
        if not job.spec.rdma:
            return None
        found = rdma.devices()
        self.event(job, f"RDMA: {len(found)} InfiniBand device(s) passed to the job" if found
                   else "RDMA was asked for but this machine has no InfiniBand device "
                        "(/dev/infiniband): the job runs over TCP")
        return found

    def _start_nodes(self, job: Job, executor: Executor, paths: JobPaths,
                     ports: tuple[int, int], ib: list[str] | None) -> None:
        specs = [self._node_spec(job, executor, paths, rank, ports, ib)
                 for rank in range(job.spec.node_count)]
        start_all = getattr(executor, "start_nodes", None)  # one submission for all (Slurm)
        if start_all is None:
            for spec in specs:
                self.store.save_node(job.id, spec.rank, executor.start(spec))
            return
        handles = start_all(specs, self.clock.hours(job.spec.max_duration))
        for spec, handle in zip(specs, handles):
            self.store.save_node(job.id, spec.rank, handle)

    def _requeue(self, job: Job, exc: Exception) -> None:
        """Back to the queue, its resources released: the start is tried again later."""
        why = describe(exc, self.host_roots)
        if self.store.update(job.id, Status.PENDING, phase=JobPhase.QUEUED, grant=None,
                             status_reason=f"waiting: {why}"):
            self.event(job, f"not started, waits in the queue: {why}")
        self.on_release(job.id)

    def _node_spec(self, job: Job, executor: Executor, paths: JobPaths, rank: int,
                   ports: tuple[int, int], ib: list[str] | None) -> NodeSpec:
        jd = self.job_dir(job)
        view = executor.view(paths)
        gpus = tuple(job.grant.get("nodes", [[]] * job.spec.node_count)[rank])
        master = getattr(executor, "master_addr", "127.0.0.1")  # a cluster's: on the node
        topo = Topology(job.id, job.spec.node_count, rank, gpus, master, ports[0],
                        ports[1], view.logs, executor.python)
        command = node_command(job.spec.distribute_strategy, job.spec.start_cmd, topo)
        env = {**executor.base_env(), **job_variables(job, topo, view, self.machine_has_gpus),
               **(rdma.nccl_env(ib) if ib is not None else {}), **command.env}
        return NodeSpec(job.id, rank, command.argv, env, paths, jd.node_log(rank), jd.events,
                        jd.node_state(rank), self.grace, image=self._image(job),
                        repository_id=job.spec.repository_id,
                        cpus=job.grant.get("cpu_num"), memory_gb=job.grant.get("memory"),
                        gpus=gpus, devices=tuple(ib or ()),
                        labels={"bmlocal.job": str(job.id), "bmlocal.node": str(rank)})

    @staticmethod
    def _image(job: Job) -> str | None:
        return f"{job.spec.image}:{job.spec.tag}" if job.spec.image else None

    def stage(self, job: Job, cancel: threading.Event | None = None) -> JobPaths:
        """The job's inputs in its directory; Cancelled, between inputs, once `cancel` is set."""
        spec, jd = job.spec, self.job_dir(job)
        cancel = cancel or threading.Event()
        jd.logs.mkdir(parents=True, exist_ok=True)
        jd.code.mkdir(parents=True, exist_ok=True)
        if spec.code_path:
            self.event(job, f"staging code from {spec.code_source} {spec.code_path}")
            self._stage(spec.code_source, spec.code_path, jd.code, False, cancel)
        train = evalset = None
        if spec.trainset_path and spec.trainset_source:
            self._stage(spec.trainset_source, spec.trainset_path, jd.train, True, cancel)
            train = str(jd.train)
        if spec.evalset_path and spec.evalset_source:
            self._stage(spec.evalset_source, spec.evalset_path, jd.eval, True, cancel)
            evalset = str(jd.eval)
        if cancel.is_set():
            raise Cancelled()
        output = self.storages[spec.output_source].output_dir(spec.output_path,
                                                              jd.scratch_output)
        return JobPaths(str(jd.code), str(output), str(jd.logs), train, evalset)

    def _stage(self, source: str, path: str, dest: Path, read_only: bool,
               cancel: threading.Event) -> None:
        if cancel.is_set():
            raise Cancelled()
        storage = self.storages[source]
        if not storage.exists(path):
            raise StagingError(f"{source} path {path} no longer exists")
        if dest.exists():
            remove_tree(dest)
        started = time.monotonic()
        stage_in(storage, path, dest, read_only=read_only)
        metrics.staged(source, dest, time.monotonic() - started)

    def abandon_nodes(self, job: Job, wait: float = ABANDON_WAIT_SECONDS) -> None:
        """Kill whatever nodes of a start that did not complete began, and forget them;
        NodesUnknown (nodes kept) when one cannot be seen to end within `wait` seconds."""
        nodes = self.store.nodes(job.id)
        for rank, handle, _ in nodes:
            executor = self.executors.for_handle(handle)
            if isinstance(executor, Unavailable):
                raise NodesUnknown(f"node {rank} cannot be checked: no {executor.name} "
                                   "executor answers")
            executor.kill(handle)
        deadline = time.monotonic() + wait
        for rank, handle, _ in nodes:
            executor = self.executors.for_handle(handle)
            while executor.poll(handle) is None:
                if time.monotonic() > deadline:
                    raise NodesUnknown(f"node {rank} did not end {wait:g} s after SIGKILL")
                time.sleep(0.05)
            executor.release(handle)
        self.store.forget_nodes(job.id)

    def _stop_requested(self, job: Job) -> bool:
        """Whether the job was stopped while it started; its resources come back if so."""
        current = self.store.get(job.id)
        if current is None or current.status != Status.PENDING:  # STOPPED at once (or gone)
            self.event(job, "stopped before it started: its start was abandoned")
            self.on_release(job.id)
            return True
        if current.end_status is None:
            return False
        self.event(job, f"{current.stop_reason} before it started")
        if self.store.move(job.id, Status.PENDING, Status.STOPPED, end_time=self.clock.now(),
                           status_reason=current.stop_reason or "stopped by user"):
            self.on_release(job.id)
        return True

    def fail_start(self, job: Job, reason: str) -> None:
        """FAILED with `reason`, unless it was stopped meanwhile; its resources come back
        either way."""
        self.store.move(job.id, Status.PENDING, Status.FAILED, end_time=self.clock.now(),
                        status_reason=reason)
        self.on_release(job.id)

    # --- end ----------------------------------------------------------------------------

    def redeliver(self, job: Job) -> None:
        """Try again to deliver the outputs of an ended job that could not all be delivered."""
        note = self.delivery.finish(job)
        self.store.update(job.id, job.status, output_note=note)
        if note != job.output_note:
            self.event(job, note or "outputs delivered on a later try")

    def redeliver_deleted(self, job: Job) -> None:
        """A deleted job's outputs, tried again; once delivered, or given up after
        `delivery.give_up_seconds`, its directory goes, with the reason in the server log."""
        note = self.delivery.finish(job)
        waited = self.clock.now() - (job.end_time or job.create_time)
        if note is None:
            why = "its outputs were delivered"
        elif waited > self.delivery.give_up_seconds:
            why = f"delivery given up after {waited:.0f} s ({note})"
        else:
            self.store.update(job.id, job.status, output_note=note)
            return
        log.info("deleted job %s: %s; its directory is removed", job.id, why)
        self.store.update(job.id, job.status, output_note=None)
        self.trash.discard(self.job_dir(job).root)

    def finish(self, job: Job, status: Status, reason: str) -> None:
        """Copy logs out, sync outputs, and move the job to where it ends."""
        current = self.store.get(job.id)
        if current is None or current.status != Status.RUNNING:
            return  # finished already, seen by a pass that read the job before it ended
        self.on_release(job.id)
        for rank, handle, _ in self.store.nodes(job.id):
            try:
                self.executors.for_handle(handle).release(handle)
            except Exception as exc:  # its end is known: the job ends all the same
                self.event(job, f"node {rank} not removed ({describe(exc)}): the next "
                                "start's sweep removes it")
        self.event(job, f"{status.value}: {reason}")
        provenance.record(self, job, status, reason)  # bml-run.json, before the final sync
        note = self.delivery.finish(job)
        if note:
            log.warning("job %s: %s", job.id, note)
            self.event(job, note)
        self.store.move(job.id, Status.RUNNING, status, end_time=self.clock.now(),
                        status_reason=reason, output_note=note)
