"""Starting a job's nodes and wrapping a job up once nothing of it runs."""
import logging
import time
from pathlib import Path
from typing import Callable

from bmlocal.launchers import node_command
from bmlocal.launchers.base import Topology
from bmlocal.runtime import rdma
from bmlocal.runtime.clock import Clock
from bmlocal.runtime.delivery import Delivery
from bmlocal.runtime.environment import job_variables
from bmlocal.runtime.executors.base import Executor, JobPaths, NodeSpec
from bmlocal.runtime.executors.select import Executors
from bmlocal.runtime.layout import JobDir
from bmlocal.runtime.ports import free_ports
from bmlocal.runtime.status import Status
from bmlocal.runtime.storage.base import Storage
from bmlocal.runtime.storage.paths import PathError
from bmlocal.runtime.storage.staging import remove_tree, stage_in
from bmlocal.runtime.store import Job, Store

log = logging.getLogger("bmlocal.runner")


class StagingError(Exception):
    """The job's inputs could not be staged; the job fails with this message."""


class Runner:
    def __init__(self, store: Store, executors: Executors, storages: dict[str, Storage],
                 data_dir: Path, clock: Clock, grace: float, delivery: Delivery,
                 on_release: Callable[[int], None], machine_has_gpus: bool = False) -> None:
        self.store = store
        self.executors = executors
        self.storages = storages
        self.data_dir = data_dir
        self.clock = clock
        self.grace = grace
        self.delivery = delivery
        self.on_release = on_release
        self.machine_has_gpus = machine_has_gpus

    def job_dir(self, job: Job) -> JobDir:
        return JobDir.of(self.data_dir, job.id)

    def event(self, job: Job, line: str) -> None:
        self.job_dir(job).event(line)

    # --- start --------------------------------------------------------------------------

    def launch(self, job: Job) -> None:
        """Stage a job that holds its resources, start its nodes, and mark it RUNNING."""
        try:
            paths = self.stage(job)
        except (StagingError, PathError, OSError) as exc:
            self.event(job, f"staging failed: {exc}")
            self.fail_start(job, f"staging failed: {exc}")
            return
        if self._stop_requested(job):
            return
        executor = self.executors.for_job(job.spec)
        if job.spec.env_type == "CCR" and executor is self.executors.process:
            self.event(job, f"CCR image {job.spec.image}:{job.spec.tag} is not used: the "
                            "server runs with --executor process, so the job runs on the host")
        master_port, aux_port = free_ports(2)
        ib = self._rdma(job)
        try:
            for rank in range(job.spec.node_count):
                self._start_node(job, executor, paths, rank, (master_port, aux_port), ib)
        except Exception as exc:  # an engine error, an image that cannot be had, ...
            log.warning("job %s: start failed: %s", job.id, exc)
            self.event(job, f"could not start: {exc}")
            self.abandon_nodes(job)
            self.fail_start(job, f"could not start: {exc}")
            return
        now = self.clock.now()
        if self.store.move(job.id, Status.PENDING, Status.RUNNING, start_time=now,
                           phase="running"):
            self.event(job, f"RUNNING: {job.spec.node_count} node(s) on {executor.name}")
            self.delivery.start(job)

    def _rdma(self, job: Job) -> list[str] | None:
        """InfiniBand devices for a job that asks for RDMA; None when it does not."""
        if not job.spec.rdma:
            return None
        found = rdma.devices()
        self.event(job, f"RDMA: {len(found)} InfiniBand device(s) passed to the job" if found
                   else "RDMA was asked for but this machine has no InfiniBand device "
                        "(/dev/infiniband): the job runs over TCP")
        return found

    def _start_node(self, job: Job, executor: Executor, paths: JobPaths, rank: int,
                    ports: tuple[int, int], ib: list[str] | None) -> None:
        jd = self.job_dir(job)
        view = executor.view(paths)
        gpus = tuple(job.grant.get("nodes", [[]] * job.spec.node_count)[rank])
        topo = Topology(job.id, job.spec.node_count, rank, gpus, "127.0.0.1", ports[0],
                        ports[1], view.logs, executor.python)
        command = node_command(job.spec.distribute_strategy, job.spec.start_cmd, topo)
        env = {**executor.base_env(), **job_variables(job, topo, view, self.machine_has_gpus),
               **(rdma.nccl_env(ib) if ib is not None else {}), **command.env}
        spec = NodeSpec(job.id, rank, command.argv, env, paths, jd.node_log(rank), jd.events,
                        jd.node_state(rank), self.grace, image=self._image(job),
                        repository_id=job.spec.repository_id,
                        cpus=job.grant.get("cpu_num"), memory_gb=job.grant.get("memory"),
                        gpus=gpus, devices=tuple(ib or ()),
                        labels={"bmlocal.job": str(job.id), "bmlocal.node": str(rank)})
        self.store.save_node(job.id, rank, executor.start(spec))

    @staticmethod
    def _image(job: Job) -> str | None:
        return f"{job.spec.image}:{job.spec.tag}" if job.spec.image else None

    def stage(self, job: Job) -> JobPaths:
        spec, jd = job.spec, self.job_dir(job)
        jd.logs.mkdir(parents=True, exist_ok=True)
        jd.code.mkdir(parents=True, exist_ok=True)
        if spec.code_path:
            self.event(job, f"staging code from {spec.code_source} {spec.code_path}")
            self._stage(spec.code_source, spec.code_path, jd.code, read_only=False)
        train = evalset = None
        if spec.trainset_path and spec.trainset_source:
            self._stage(spec.trainset_source, spec.trainset_path, jd.train, read_only=True)
            train = str(jd.train)
        if spec.evalset_path and spec.evalset_source:
            self._stage(spec.evalset_source, spec.evalset_path, jd.eval, read_only=True)
            evalset = str(jd.eval)
        output = self.storages[spec.output_source].output_dir(spec.output_path,
                                                              jd.scratch_output)
        return JobPaths(str(jd.code), str(output), str(jd.logs), train, evalset)

    def _stage(self, source: str, path: str, dest: Path, read_only: bool) -> None:
        storage = self.storages[source]
        if not storage.exists(path):
            raise StagingError(f"{source} path {path} no longer exists")
        if dest.exists():
            remove_tree(dest)
        stage_in(storage, path, dest, read_only=read_only)

    def abandon_nodes(self, job: Job) -> None:
        """Kill whatever nodes of a start that did not complete began, and forget them."""
        for _, handle, _ in self.store.nodes(job.id):
            executor = self.executors.for_handle(handle)
            executor.kill(handle)
            while executor.poll(handle) is None:
                time.sleep(0.05)
            executor.release(handle)
        self.store.forget_nodes(job.id)

    def _stop_requested(self, job: Job) -> bool:
        current = self.store.get(job.id)
        if current is None or current.end_status is None:
            return False
        self.event(job, f"{current.stop_reason} before it started")
        if self.store.move(job.id, Status.PENDING, Status.STOPPED, end_time=self.clock.now(),
                           status_reason=current.stop_reason or "stopped by user"):
            self.on_release(job.id)
        return True

    def fail_start(self, job: Job, reason: str) -> None:
        if self.store.move(job.id, Status.PENDING, Status.FAILED, end_time=self.clock.now(),
                           status_reason=reason):
            self.on_release(job.id)

    # --- end ----------------------------------------------------------------------------

    def redeliver(self, job: Job) -> None:
        """Try again to deliver the outputs of an ended job that could not all be delivered."""
        note = self.delivery.finish(job)
        self.store.update(job.id, job.status, output_note=note)
        self.event(job, note or "outputs delivered on a later try")

    def finish(self, job: Job, status: Status, reason: str) -> None:
        """Copy logs out, sync outputs, and move the job to where it ends."""
        current = self.store.get(job.id)
        if current is None or current.status != Status.RUNNING:
            return  # finished already, seen by a pass that read the job before it ended
        self.on_release(job.id)
        for _, handle, _ in self.store.nodes(job.id):
            self.executors.for_handle(handle).release(handle)
        self.event(job, f"{status.value}: {reason}")
        note = self.delivery.finish(job)
        if note:
            log.warning("job %s: %s", job.id, note)
            self.event(job, note)
        self.store.move(job.id, Status.RUNNING, status, end_time=self.clock.now(),
                        status_reason=reason, output_note=note)
