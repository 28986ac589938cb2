"""A cloud job as the cloud describes it (a `detail` result, the whole detail answer, or a
create body), read with the seed's types, and turned into a create body.

Every mistake names its dotted field: `resource_config.node_count: expected an integer,
got '2'`. The cloud's detail has no `*_UrlSource` fields: each one missing is taken from
the caller's choice, else the `[replay]` defaults, and reported as assumed."""
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bmlocal.config_model import dotted

Digits = Annotated[str, Field(pattern=r"^[0-9]{1,9}$")]  # the detail's cpu_num: "4"
Count = Annotated[int, Field(ge=0)]
SOURCES = ("code", "output", "trainset", "evalset")
JOB_KEYS = ("name", "train_config", "resource_config")


class ReplayInputError(ValueError):
    """A file that is not a usable cloud job; `field` names the place."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class TrainConfig(Section):
    start_cmd: str
    output_path: str
    env_type: str = "DEFAULT"
    code_path: str = ""
    image: str = ""
    tag: str = ""
    repository_id: str = ""
    distribute_strategy: str = ""
    trainset_path: str = ""  # the detail repeats the dataset paths here
    evalset_path: str = ""
    code_UrlSource: str = ""
    output_UrlSource: str = ""


class DatasetConfig(Section):
    trainset_path: str = ""
    evalset_path: str = ""
    trainset_UrlSource: str = ""
    evalset_UrlSource: str = ""


class ResourceConfig(Section):
    node_count: int
    resource_name: str
    max_duration: int
    resource_type: str = "PUBLIC"
    gpu_type: str = ""
    gpu_num: Count | None = None
    cpu_num: Count | Digits | None = None
    memory: Count | None = None
    rdma: bool = False


class CloudJobModel(Section):
    name: str
    description: str = ""
    train_config: TrainConfig
    dataset_config: DatasetConfig = DatasetConfig()
    resource_config: ResourceConfig
    prjId: str | None = None
    id: int | None = None
    train_status: str | None = None


@dataclass(frozen=True)
class Assumed:
    """A `*_UrlSource` and where its value came from: "file", "flag", "config"."""
    field: str
    value: str
    origin: str


@dataclass(frozen=True)
class CloudJob:
    kind: str  # "detail" or "create"
    project: str | None
    body: dict[str, Any]  # a create body, without prjId
    sources: list[Assumed] = field(default_factory=list)
    cloud_id: int | None = None


def unwrap(data: Any) -> Any:
    """A whole detail answer ({"log_id", "result": {...}}) is read as its result."""
    if isinstance(data, dict) and isinstance(data.get("result"), dict) and "log_id" in data:
        return data["result"]
    return data


def parse(data: Any, chosen: dict[str, str] | None = None,
          defaults: dict[str, str] | None = None) -> CloudJob:
    """The job in `data`; ReplayInputError naming the first wrong field.
    `chosen`/`defaults`: "code"/"output"/"dataset" -> BOS or PFS where the file has none."""
    data = unwrap(data)
    if not isinstance(data, dict) or not any(key in data for key in JOB_KEYS):
        raise ReplayInputError("job", "not a cloud job: expected a detail result or a create "
                                      "body (an object with name, train_config and "
                                      "resource_config)")
    try:
        job = CloudJobModel.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ReplayInputError(dotted(tuple(error["loc"])) or "job", _message(error)) from None
    kind = "detail" if "train_status" in data or "id" in data else "create"
    sources = _sources(job, chosen or {}, defaults or {})
    return CloudJob(kind, job.prjId or None, _body(job, sources), sources, job.id)


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "missing":
        return "missing (required)"
    text = error["msg"][0].lower() + error["msg"][1:]
    value = error.get("input")
    return text if isinstance(value, (dict, list)) else f"{text}, got {value!r}"


def _sources(job: CloudJobModel, chosen: dict[str, str], defaults: dict[str, str]
             ) -> list[Assumed]:
    tc, dc = job.train_config, job.dataset_config
    given = {"code": (tc.code_UrlSource, True), "output": (tc.output_UrlSource, True),
             "trainset": (dc.trainset_UrlSource, bool(dc.trainset_path or tc.trainset_path)),
             "evalset": (dc.evalset_UrlSource, bool(dc.evalset_path or tc.evalset_path))}
    found = []
    for name, (value, needed) in given.items():
        if not needed:
            continue
        group = "dataset" if name in ("trainset", "evalset") else name
        if value:
            found.append(Assumed(name, value, "file"))
        elif chosen.get(group):
            found.append(Assumed(name, chosen[group], "flag"))
        else:
            found.append(Assumed(name, defaults.get(group, "BOS"), "config"))
    return found


def _body(job: CloudJobModel, sources: list[Assumed]) -> dict[str, Any]:
    tc, dc, rc = job.train_config, job.dataset_config, job.resource_config
    source = {s.field: s.value for s in sources}
    train = {"env_type": tc.env_type, "start_cmd": tc.start_cmd,
             "output_path": tc.output_path, "output_UrlSource": source["output"],
             "code_UrlSource": source["code"]}
    for name in ("code_path", "image", "tag", "repository_id", "distribute_strategy"):
        if getattr(tc, name):
            train[name] = getattr(tc, name)
    dataset: dict[str, Any] = {}
    for name in ("trainset", "evalset"):
        path = getattr(dc, f"{name}_path") or getattr(tc, f"{name}_path")
        if path:
            dataset.update({f"{name}_path": path, f"{name}_UrlSource": source[name]})
    resource: dict[str, Any] = {"resource_type": rc.resource_type or "PUBLIC",
                                "node_count": rc.node_count,
                                "resource_name": rc.resource_name,
                                "max_duration": rc.max_duration, "rdma": rc.rdma}
    if rc.gpu_type:
        resource["gpu_type"] = rc.gpu_type
    if rc.gpu_num is not None:
        resource["gpu_num"] = rc.gpu_num
    for name in ("cpu_num", "memory"):  # a detail shows 0 for a cap that was not asked
        value = getattr(rc, name)
        if value is not None and int(value) > 0:
            resource[name] = int(value)
    return {"name": job.name, "description": job.description or job.name,
            "train_config": train, "dataset_config": dataset, "resource_config": resource}
