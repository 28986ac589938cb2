"""A cloud job's resources on this machine's pools, by the `[replay]` table, and the rows
that tell what was kept, mapped, scaled, assumed or is unavailable here."""
import copy
from dataclasses import asdict, dataclass
from typing import Any, Callable

from bmlocal.replay.cloudjob import Assumed, CloudJob
from bmlocal.replay.config import ReplayConfig
from bmlocal.runtime.pools import Pool, Pools

OUTCOMES = ("kept", "mapped", "scaled", "assumed", "unavailable")
# (image, tag, repository_id) -> (outcome, what is known of it here)
ImageCheck = Callable[[str, str, str], tuple[str, str]]


class MappingError(ValueError):
    """The job cannot be mapped onto this machine; `field` names the place (a job field or
    a key of the `[replay]` table), `code` is the API's error code for it."""

    def __init__(self, field_name: str, message: str, code: int = 406001) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Row:
    field: str
    cloud: str
    local: str
    outcome: str
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Machine:
    pools: Pools
    gpu_count: int
    rdma_devices: tuple[str, ...]
    image_check: ImageCheck


def map_job(job: CloudJob, config: ReplayConfig, machine: Machine
            ) -> tuple[dict[str, Any], list[Row]]:
    """The create body to run here, and the table of what happened to each field."""
    body = copy.deepcopy(job.body)
    rows = [_source_row(s) for s in job.sources]
    rc = body["resource_config"]
    pool = _pool(rc, config, machine.pools, rows)
    rows += _fit(rc, pool, config.on_shortfall, machine.gpu_count)
    rows += _kept(body)
    rows += _environment(body, machine)
    return body, rows


def _source_row(source: Assumed) -> Row:
    name = f"{source.field}_UrlSource"
    if source.origin == "file":
        return Row(name, source.value, source.value, "kept")
    group = "dataset" if source.field in ("trainset", "evalset") else source.field
    origin = f"--{group}-source" if source.origin == "flag" else f"[replay] {group}_source"
    return Row(name, "(none)", source.value, "assumed", f"from {origin}")


def find_pool(pools: Pools, name: str) -> Pool | None:
    """"USER/name", "PUBLIC/name", or a bare name (a USER pool first)."""
    kind, _, bare = name.rpartition("/")
    if kind:
        return pools.find(kind, bare)
    return pools.find("USER", name) or pools.find("PUBLIC", name)


def _pool(rc: dict[str, Any], config: ReplayConfig, pools: Pools, rows: list[Row]) -> Pool:
    cloud = f"{rc['resource_type']}/{rc['resource_name']}"
    gpu_type = rc.get("gpu_type", "")
    if gpu_type and gpu_type in config.gpu_types:
        place, target = f"replay.gpu_types.{gpu_type}", config.gpu_types[gpu_type]
    elif rc["resource_name"] in config.pools:
        place, target = f"replay.pools.{rc['resource_name']}", config.pools[rc["resource_name"]]
    else:
        pool = pools.find(rc["resource_type"], rc["resource_name"])
        if pool is None:
            raise MappingError("resource_config.resource_name", f"pool {cloud} does not exist "
                               f"here: map it with [replay.pools] {rc['resource_name']} = "
                               f"\"<local pool>\" (local pools: {_names(pools)})", 406100)
        rows.append(Row("resource_name", cloud, cloud, "kept"))
        return pool
    pool = find_pool(pools, target)
    if pool is None:
        raise MappingError(place, f"names pool {target!r}, which this server does not have "
                                  f"(local pools: {_names(pools)})", 406100)
    rc["resource_type"], rc["resource_name"] = pool.type, pool.name
    rows.append(Row("resource_name", cloud, f"{pool.type}/{pool.name}", "mapped", f"by {place}"))
    if pool.gpu_type and gpu_type != pool.gpu_type:
        rc["gpu_type"] = pool.gpu_type
        rows.append(Row("gpu_type", gpu_type or "(none)", pool.gpu_type, "mapped",
                        f"pool {pool.name}'s accelerator"))
    return pool


def _names(pools: Pools) -> str:
    return ", ".join(f"{p.type}/{p.name}" for p in pools.all())


def _fit(rc: dict[str, Any], pool: Pool, mode: str, gpu_count: int) -> list[Row]:
    """Per-node figures over what one node of `pool` has, and more nodes than it has."""
    rows = []
    asked_gpus = rc.get("gpu_num", 1 if pool.uses_gpus else 0)
    for name, limit, what, code in (("gpu_num", pool.gpus_per_node, "GPUs", 406104),
                                    ("cpu_num", pool.cpus_per_node, "CPUs", 406102),
                                    ("memory", pool.memory_gb, "GB of memory", 406103)):
        asked = asked_gpus if name == "gpu_num" else rc.get(name)
        if asked is None:
            continue
        if asked <= limit:
            rows.append(Row(name, str(asked), str(asked), "kept", "per node"))
            continue
        _shortfall(mode, f"resource_config.{name}", f"the job asks {asked} {what} a node; "
                   f"a node of pool {pool.name} has {limit} here", code)
        rc[name] = limit
        rows.append(Row(name, str(asked), str(limit), "scaled",
                        f"per node: pool {pool.name} has {limit}"))
    gpus = rc.get("gpu_num", asked_gpus)
    local_gpus = gpus and not getattr(pool, "remote", False)  # a cluster's GPUs are its own
    most = min(pool.max_nodes, max(gpu_count // gpus, 1)) if local_gpus else pool.max_nodes
    nodes = rc["node_count"]
    if nodes <= most:
        rows.append(Row("node_count", str(nodes), str(nodes), "kept"))
        return rows
    _shortfall(mode, "resource_config.node_count", f"the job asks {nodes} nodes; pool "
               f"{pool.name} can run {most} here", 406101)
    rc["node_count"] = most
    kept = ", ".join(f"{rc[n]} {n}" for n in ("gpu_num", "cpu_num", "memory") if n in rc)
    rows.append(Row("node_count", str(nodes), str(most), "scaled",
                    f"per-node figures kept ({kept})" if kept else "per-node figures kept"))
    return rows


def _shortfall(mode: str, field_name: str, message: str, code: int) -> None:
    if mode != "scale":
        raise MappingError(field_name, f"{message} ([replay] on_shortfall = \"refuse\"; "
                                       "\"scale\" runs it smaller)", code)


def _kept(body: dict[str, Any]) -> list[Row]:
    tc, dc, rc = body["train_config"], body["dataset_config"], body["resource_config"]
    fields = [("env_type", tc.get("env_type")), ("distribute_strategy",
              tc.get("distribute_strategy")), ("start_cmd", tc.get("start_cmd")),
              ("code_path", tc.get("code_path")), ("trainset_path", dc.get("trainset_path")),
              ("evalset_path", dc.get("evalset_path")), ("output_path", tc.get("output_path")),
              ("max_duration", rc.get("max_duration"))]
    return [Row(name, str(value), str(value), "kept") for name, value in fields if value]


def _environment(body: dict[str, Any], machine: Machine) -> list[Row]:
    rows = []
    if body["resource_config"].get("rdma"):
        found = machine.rdma_devices
        rows.append(Row("rdma", "true", "true" if found else "TCP",
                        "kept" if found else "unavailable",
                        f"{len(found)} InfiniBand device(s)" if found else
                        "no InfiniBand device here: the job runs over TCP"))
    tc = body["train_config"]
    if tc.get("env_type") == "CCR" and tc.get("image"):
        outcome, note = machine.image_check(tc["image"], tc.get("tag", ""),
                                            tc.get("repository_id", ""))
        image = f"{tc['image']}:{tc.get('tag', '')}"
        rows.append(Row("image", image, image if outcome != "unavailable" else "-", outcome,
                        note))
    return rows
