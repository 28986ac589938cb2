"""The configuration file's schema: every table and key it may hold, with its type.

Unknown keys are mistakes (extra="forbid"), types are strict (`cpu_slots = "many"` and a
quota written as a string are refused), and each mistake becomes one line that names its
dotted place: `scheduler.cpu_slots: expected a whole number, got 'many'`.

Sections owned by other modules plug in through PLUGINS: "section" -> (module, class). Where
that module exports that pydantic model, the section is validated by it (and forbids its
own unknown keys); until it does, the section is accepted as it is written. A plug-in
reads its validated section with `Settings.section(name)`.
"""
import importlib
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Whole = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]
Seconds = Annotated[float, Field(gt=0)]

# section (dotted for a pool's sub-table) -> (module, model class) that validates it
PLUGINS: dict[str, tuple[str, str]] = {
    "simulate": ("bmlocal.runtime.executors.simulate", "SimulateConfig"),
    "replay": ("bmlocal.replay.config", "ReplayConfig"),
    "pools.slurm": ("bmlocal.runtime.executors.slurm", "SlurmPoolConfig"),
}
SECRET_PLACES = ("auth", "bos")  # a wrong value there is not repeated in the message


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ServerTable(Table):
    host: str | None = None
    port: Annotated[int, Field(ge=0, le=65535)] | None = None
    data_dir: str | None = None
    pfs_root: str | None = None
    bos_root: str | None = None
    executor: str | None = None
    hour_seconds: Seconds | None = None
    grace_seconds: Annotated[float, Field(ge=0)] | None = None
    threads: Positive | None = None


class CredentialTable(Table):
    ak: Annotated[str, Field(min_length=1)]
    sk: Annotated[str, Field(min_length=1)]
    projects: list[str]


class AuthTable(Table):
    credentials: list[CredentialTable] = []
    token_ttl_seconds: Positive = 2592000


class GpusTable(Table):
    devices: list[Whole] | None = None
    type: str = ""


class PoolTable(Table):
    name: Annotated[str, Field(min_length=1)]
    nodes: Positive = 1
    gpus_per_node: Whole = 0
    cpus_per_node: Positive | None = None
    memory_gb: Positive | None = None
    gpu_type: str = ""
    # where the pool's jobs run; None: as the server's --executor chooses
    backend: Literal["process", "docker", "slurm", "simulate"] | None = None
    slurm: Any = None  # validated by the "pools.slurm" plug-in


class SchedulerTable(Table):
    cpu_slots: Positive = 8
    max_passes: Whole = 4
    workers: Positive = 32  # threads that stage, start and wrap up jobs, each one job


class DockerTable(Table):
    shm_size: str = "8g"
    registries: dict[str, str] = {}
    pull_timeout_seconds: Positive = 1800  # how long a job waits for its image to be pulled


class BosTable(Table):
    """Types only: storage/s3.py's bos_settings gives the keys their meaning."""
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    region: str | None = None
    sync_interval_seconds: Seconds | None = None
    addressing_style: str | None = None
    final_sync_timeout_seconds: Seconds | None = None
    checksums: str | None = None


class QuotasTable(Table):
    max_jobs_per_project: Positive | None = None
    max_running_jobs_per_project: Positive | None = None
    max_gpus_per_project: Positive | None = None


class DeliveryTable(Table):
    retry_seconds: Seconds = 30.0  # undelivered outputs are tried again this often
    # a deleted job's outputs are given up (and its directory removed) after this long
    give_up_seconds: Seconds = 86400.0


class ConfigFile(Table):
    server: ServerTable = ServerTable()
    auth: AuthTable = AuthTable()
    gpus: GpusTable = GpusTable()
    pools: list[PoolTable] = []
    scheduler: SchedulerTable = SchedulerTable()
    docker: DockerTable = DockerTable()
    bos: BosTable = BosTable()
    quotas: QuotasTable = QuotasTable()
    delivery: DeliveryTable = DeliveryTable()
    simulate: Any = None  # plug-in sections: see PLUGINS
    replay: Any = None


def plugin_model(section: str) -> type[BaseModel] | None:
    """The model a plug-in module exports for `section`, None while it does not."""
    module_name, class_name = PLUGINS[section]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None  # the plug-in is not there (yet)
        raise
    model = getattr(module, class_name, None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def validate(table: dict[str, Any]) -> tuple[ConfigFile, dict[str, Any], list[str]]:
    """The validated file, its plug-in sections (validated where a model is known, keyed
    "simulate", "replay", "pools.slurm.<pool name>") and one line per mistake."""
    try:
        config = ConfigFile.model_validate(table)
    except ValidationError as exc:
        return ConfigFile(), {}, mistakes(exc)
    sections: dict[str, Any] = {}
    problems: list[str] = []
    plugged = [(name, name, name, getattr(config, name)) for name in ("simulate", "replay")]
    plugged += [("pools.slurm", f"pools[{i}].slurm", f"pools.slurm.{pool.name}", pool.slurm)
                for i, pool in enumerate(config.pools)]
    for section, place, key, raw in plugged:
        if raw is None:
            continue
        model = plugin_model(section)
        try:
            sections[key] = model.model_validate(raw) if model else raw
        except ValidationError as exc:
            problems += mistakes(exc, place)
    return config, sections, problems


def mistakes(exc: ValidationError, prefix: str = "") -> list[str]:
    return [line(error, prefix) for error in exc.errors()]


def line(error: Any, prefix: str) -> str:
    place = dotted(((prefix,) if prefix else ()) + tuple(error["loc"]))
    if error["type"] == "extra_forbidden":
        return f"{place}: unknown key"
    if error["type"] == "missing":
        return f"{place}: missing (required)"
    message = error["msg"][0].lower() + error["msg"][1:]
    value = error.get("input")
    secret = place.split(".")[0].split("[")[0] in SECRET_PLACES
    if secret or isinstance(value, (dict, list)):
        return f"{place}: {message}"
    return f"{place}: {message}, got {value!r}"


def dotted(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("int", "float", "str", "bool", "list[...]", "function-after") or \
                str(part).startswith(("literal[", "constrained-")):
            continue  # pydantic's name of a union member, not a place in the file
        else:
            text += f".{part}" if text else str(part)
    return text
