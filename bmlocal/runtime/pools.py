"""Resource pools: what one node of each pool offers on this machine."""
import os
from dataclasses import dataclass, replace
from typing import Any, Mapping

from bmlocal.config import ConfigError


@dataclass(frozen=True)
class Pool:
    name: str
    type: str  # PUBLIC or USER
    max_nodes: int
    gpus_per_node: int
    cpus_per_node: int
    memory_gb: int
    gpu_type: str = ""
    gpu_pool: bool = False  # a GPU pool even on a machine whose inventory is empty
    backend: str | None = None  # where its jobs run ("slurm": a cluster's); None: here

    @property
    def key(self) -> str:
        return f"{self.type}/{self.name}"

    @property
    def remote(self) -> bool:
        """Its jobs run on a cluster, which holds the resources: none of this machine's."""
        return self.backend == "slurm"

    @property
    def uses_gpus(self) -> bool:
        return self.gpu_pool or self.gpus_per_node > 0


def machine_memory_gb() -> int:
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30)


def public_pools(gpu_count: int, gpu_type: str) -> list[Pool]:
    cores, memory = os.cpu_count() or 1, machine_memory_gb()
    return [
        Pool("GPU_V100", "PUBLIC", 4, gpu_count, cores, memory, gpu_type or "V100", True),
        Pool("GPU_P4", "PUBLIC", 4, gpu_count, cores, memory, gpu_type or "P4", True),
        Pool("CPU_4C_16G", "PUBLIC", 4, 0, 4, 16),
        Pool("CPU_16C_64G", "PUBLIC", 4, 0, 16, 64),
    ]


def user_pools(entries: list[Mapping[str, Any]]) -> list[Pool]:
    pools = []
    for entry in entries:
        entry = {**entry, **_node_figures(entry.get("slurm"))}
        try:
            pools.append(Pool(str(entry["name"]), "USER", int(entry.get("nodes", 1)),
                              int(entry.get("gpus_per_node", 0)),
                              int(entry.get("cpus_per_node", os.cpu_count() or 1)),
                              int(entry.get("memory_gb", machine_memory_gb())),
                              str(entry.get("gpu_type", "")),
                              backend=entry.get("backend")))
        except (KeyError, TypeError, ValueError):
            raise ConfigError("each [[pools]] needs a name and whole numbers for nodes, "
                              "gpus_per_node, cpus_per_node and memory_gb") from None
    return pools


def _node_figures(slurm: Any) -> dict[str, Any]:
    """A Slurm sub-table's node figures, which override the pool's own."""
    names = ("nodes", "gpus_per_node", "cpus_per_node", "memory_gb")
    table = slurm if isinstance(slurm, Mapping) else {}
    return {k: table[k] for k in names if table.get(k) is not None}


def mapped_public(public: list[Pool], users: list[Pool]) -> list[Pool]:
    """PUBLIC pools, each replaced by the [[pools]] entry of its name that sends it to a
    cluster (`backend = "slurm"`): the PUBLIC pool's jobs go there too."""
    remote = {p.name: p for p in users if p.remote}
    return [replace(remote[p.name], type="PUBLIC") if p.name in remote else p for p in public]


class Pools:
    def __init__(self, pools: list[Pool]) -> None:
        self._pools = {(p.type, p.name): p for p in pools}

    def find(self, resource_type: str, name: str) -> Pool | None:
        return self._pools.get((resource_type, name))

    def all(self) -> list[Pool]:
        return list(self._pools.values())
