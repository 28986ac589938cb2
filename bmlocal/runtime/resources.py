"""Who holds which GPUs and CPU slots, and whether a waiting job may start now.

GPUs are exclusive: each node of a GPU pool gets its own. CPU-pool nodes take one of a
configurable number of slots (their cpu and memory figures are caps, not reservations).
A job that cannot start yet may be passed by later jobs that fit, but only `max_passes`
times: after that it holds its place and nothing later that needs the same kind of resource
starts before it, so large jobs do not starve.
"""
import threading
from dataclasses import dataclass
from typing import Any

from bmlocal.errors import ApiError
from bmlocal.runtime.pools import Pool, Pools
from bmlocal.runtime.spec import JobSpec


@dataclass(frozen=True)
class Request:
    job_id: int
    project: str
    pool: Pool
    node_count: int
    gpus_per_node: int
    cpus_per_node: int
    memory_gb: int

    @classmethod
    def of(cls, job_id: int, spec: JobSpec, pools: Pools) -> "Request":
        """What a job asks for: GPU pools default to one GPU a node, caps to the pool's."""
        pool = pools.find(spec.resource_type, spec.resource_name)
        if pool is None:  # removed from the config since the job was created
            raise ApiError(406100)
        gpus = spec.gpu_num if spec.gpu_num is not None else (1 if pool.uses_gpus else 0)
        return cls(job_id, spec.project, pool, spec.node_count, gpus,
                   spec.cpu_num or pool.cpus_per_node, spec.memory or pool.memory_gb)

    @property
    def gpu_total(self) -> int:
        return self.node_count * self.gpus_per_node

    @property
    def kind(self) -> str:
        if self.pool.remote:  # a cluster's resources: it queues the job itself
            return "remote"
        return "gpu" if self.gpus_per_node else "cpu"


@dataclass(frozen=True)
class Quotas:
    running_jobs: int | None = None  # per project, at once
    gpus: int | None = None  # per project, at once


class Allocator:
    def __init__(self, gpus: list[int], cpu_slots: int, quotas: Quotas = Quotas(),
                 max_passes: int = 4, remote_pools: bool = False) -> None:
        self.gpus = list(gpus)
        self.remote_pools = remote_pools  # a job of a cluster's pool may start at any time
        self.cpu_slots = cpu_slots
        self.quotas = quotas
        self.max_passes = max_passes
        self._held: dict[int, tuple[str, dict[str, Any]]] = {}  # job -> (project, grant)
        self._passes: dict[int, int] = {}
        self._lock = threading.Lock()

    def never_fits(self, req: Request) -> bool:
        """A request this machine or the project's quota could never run."""
        if req.kind == "remote":  # the cluster's own limits: sbatch says
            return self.quotas.gpus is not None and req.gpu_total > self.quotas.gpus
        if req.gpu_total > len(self.gpus):
            return True
        if req.kind == "cpu" and req.node_count > self.cpu_slots:
            return True
        return self.quotas.gpus is not None and req.gpu_total > self.quotas.gpus

    def reserve(self, job_id: int, project: str, grant: dict[str, Any]) -> None:
        """Hold a grant again after a restart."""
        with self._lock:
            self._held[job_id] = (project, grant)

    def release(self, job_id: int) -> None:
        with self._lock:
            self._held.pop(job_id, None)
            self._passes.pop(job_id, None)

    def has_free(self) -> bool:
        """Whether any GPU or CPU slot is free: else no waiting job can start."""
        with self._lock:
            return self._has_free()

    def _has_free(self) -> bool:
        return (self.remote_pools or self._used_slots() < self.cpu_slots
                or len(self._gpus_in_use()) < len(self.gpus))

    def admit(self, waiting: list[Request]) -> list[tuple[Request, dict[str, Any]]]:
        """Grants for the waiting jobs (oldest first) that may start now."""
        granted = []
        with self._lock:
            barred: set[str] = set()  # kinds held back for a job passed too often
            blocked: list[Request] = []
            for req in waiting:
                if granted and not self._has_free():  # the rest cannot start either
                    break
                grant = None if req.kind in barred else self._try(req)
                if grant is None:
                    blocked.append(req)
                    if self._passes.get(req.job_id, 0) >= self.max_passes:
                        barred.add(req.kind)
                    continue
                self._held[req.job_id] = (req.project, grant)
                granted.append((req, grant))
                for earlier in blocked:
                    if earlier.kind == req.kind:
                        self._passes[earlier.job_id] = self._passes.get(earlier.job_id, 0) + 1
        return granted

    def _try(self, req: Request) -> dict[str, Any] | None:
        if not self._project_allows(req):
            return None
        if req.kind == "remote":  # GPUs numbered on each of the cluster's nodes
            return self._grant(req, [list(range(req.gpus_per_node))] * req.node_count)
        if req.kind == "cpu":
            if self._used_slots() + req.node_count > self.cpu_slots:
                return None
            return self._grant(req, [[] for _ in range(req.node_count)])
        free = [g for g in self.gpus if g not in self._gpus_in_use()]
        if len(free) < req.gpu_total:
            return None
        n = req.gpus_per_node
        return self._grant(req, [free[i * n:(i + 1) * n] for i in range(req.node_count)])

    def _project_allows(self, req: Request) -> bool:
        mine = [g for p, g in self._held.values() if p == req.project]
        if self.quotas.running_jobs is not None and len(mine) >= self.quotas.running_jobs:
            return False
        held_gpus = sum(len(n) for g in mine for n in g["nodes"])
        return self.quotas.gpus is None or held_gpus + req.gpu_total <= self.quotas.gpus

    def _used_slots(self) -> int:
        return sum(len(g["nodes"]) for _, g in self._held.values()
                   if not g["gpu_num"] and not g.get("remote"))

    def _gpus_in_use(self) -> set[int]:
        return {gpu for _, g in self._held.values() if not g.get("remote")
                for node in g["nodes"] for gpu in node}

    @staticmethod
    def _grant(req: Request, nodes: list[list[int]]) -> dict[str, Any]:
        return {"nodes": nodes, "gpu_num": req.gpus_per_node, "cpu_num": req.cpus_per_node,
                "memory": req.memory_gb, "gpu_type": req.pool.gpu_type,
                "remote": req.pool.remote}
