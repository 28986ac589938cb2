"""The create rules of the wire contract, in the contract's order, each with its code."""
from typing import Any, Callable, Mapping

import regex

from bmlocal.errors import ApiError, invalid
from bmlocal.runtime.pools import Pool
from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.storage.base import Storage, StoreError
from bmlocal.runtime.storage.paths import PathError

EMOJI = regex.compile(r"[\p{Extended_Pictographic}\U0001F1E6-\U0001F1FF\uFE0F]")
SOURCES = ("BOS", "PFS")
STRATEGIES = ("Horovod", "PaddleFleet", "PytorchDDP")
IMAGE = regex.compile(r"^/[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._/-]*$")
MAX_STRING = 1024
MAX_ROW_ID = (1 << 63) - 1  # SQLite's largest integer: no job id can lie beyond it
MAX_PAGE = 100  # list's largest `num`
# Optional fields where "" counts as not given (detail writes "" for what was not given), so
# that a job's own detail can be sent back to create; resource_type is not one of them.
BLANK_IS_ABSENT = frozenset({
    "train_config.code_path", "train_config.image", "train_config.tag",
    "train_config.repository_id", "train_config.distribute_strategy",
    "dataset_config.trainset_UrlSource", "dataset_config.trainset_path",
    "dataset_config.evalset_UrlSource", "dataset_config.evalset_path",
    "resource_config.gpu_type"})
# detail writes cpu_num as a string (the seed's type), e.g. "4": create takes that form back
DIGITS = regex.compile(r"0|[1-9][0-9]{0,17}")

# (section, field, type, required) in the order the contract lists them.
FIELDS: list[tuple[str | None, str, type, bool]] = [
    (None, "name", str, True),
    (None, "description", str, True),
    (None, "train_config", dict, True),
    ("train_config", "env_type", str, True),
    ("train_config", "output_UrlSource", str, True),
    ("train_config", "output_path", str, True),
    ("train_config", "code_UrlSource", str, True),
    ("train_config", "code_path", str, False),
    ("train_config", "start_cmd", str, True),
    ("train_config", "image", str, False),
    ("train_config", "tag", str, False),
    ("train_config", "repository_id", str, False),
    ("train_config", "distribute_strategy", str, False),
    (None, "dataset_config", dict, True),
    ("dataset_config", "trainset_UrlSource", str, False),
    ("dataset_config", "trainset_path", str, False),
    ("dataset_config", "evalset_UrlSource", str, False),
    ("dataset_config", "evalset_path", str, False),
    (None, "resource_config", dict, True),
    ("resource_config", "resource_type", str, False),
    ("resource_config", "node_count", int, True),
    ("resource_config", "resource_name", str, True),
    ("resource_config", "max_duration", int, True),
    ("resource_config", "gpu_type", str, False),
    ("resource_config", "gpu_num", int, False),
    ("resource_config", "cpu_num", int, False),
    ("resource_config", "memory", int, False),
    ("resource_config", "rdma", bool, False),
]


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def has_type(value: Any, kind: type) -> bool:
    return is_int(value) if kind is int else isinstance(value, kind)


def require_int(body: Mapping[str, Any], field: str, default: int | None = None) -> int:
    """An integer field of stop, delete, list and detail requests."""
    value = body.get(field)
    if value is None and default is not None:
        return default
    if not is_int(value):
        raise invalid(field)
    return value


def require_page(body: Mapping[str, Any]) -> tuple[int, int]:
    """list's `start` (0 or more, default 0) and `num` (0..100, default 20)."""
    start = require_int(body, "start", default=0)
    if start < 0:
        raise invalid("start")
    num = require_int(body, "num", default=20)
    if not 0 <= num <= MAX_PAGE:
        raise invalid("num")
    return min(start, MAX_ROW_ID), num


def require_id(body: Mapping[str, Any]) -> int:
    """The `id` of stop, delete, detail and logs; one outside SQLite's range is unknown."""
    job_id = require_int(body, "id")
    if not -MAX_ROW_ID - 1 <= job_id <= MAX_ROW_ID:
        raise ApiError(406012)
    return job_id


def require_project(body: Any) -> str:
    if not isinstance(body, dict):
        raise invalid("body")
    project = body.get("prjId")
    if not isinstance(project, str) or not project:
        raise invalid("prjId")
    return project


class CreateValidator:
    """Turns a create body into a JobSpec, or raises the first broken rule's ApiError."""

    def __init__(self, storages: Mapping[str, Storage],
                 find_pool: Callable[[str, str], Pool | None]) -> None:
        self.storages = storages
        self.find_pool = find_pool

    def parse(self, body: dict[str, Any], project: str) -> JobSpec:
        values = self._typed(body)
        self._texts({**values, "prjId": project})
        self._train(values)
        pool = self._resources(values)
        return self._spec(values, project, pool)

    # --- rule 1: presence and types ------------------------------------------------------

    def _typed(self, body: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for section, field, kind, required in FIELDS:
            where = body if section is None else body[section]
            value = where.get(field)
            dotted = field if section is None else f"{section}.{field}"
            if value == "" and dotted in BLANK_IS_ABSENT:
                continue
            if dotted == "resource_config.cpu_num" and isinstance(value, str) \
                    and DIGITS.fullmatch(value):
                value = int(value)
            if value is None:
                if required:
                    raise invalid(dotted)
                continue
            if not has_type(value, kind) or (kind is int and section == "resource_config"
                                             and field in ("gpu_num", "cpu_num", "memory")
                                             and value < 0):
                raise invalid(dotted)
            values[dotted] = value
        for kind in ("trainset", "evalset"):
            if values.get(f"dataset_config.{kind}_path") and \
                    f"dataset_config.{kind}_UrlSource" not in values:
                raise invalid(f"dataset_config.{kind}_UrlSource")
        return values

    # --- rules on texts ----------------------------------------------------------------

    @staticmethod
    def _texts(values: dict[str, Any]) -> None:
        check_text(values["name"], 50, 406015, 406016)
        check_text(values["description"], 500, 406017, 406018)
        for field, value in values.items():
            if field not in ("name", "description") and isinstance(value, str) \
                    and len(value) > MAX_STRING:
                raise ApiError(406038)

    # --- rules on the training configuration -------------------------------------------

    def _train(self, values: dict[str, Any]) -> None:
        if values["train_config.env_type"] not in ("CCR", "DEFAULT"):
            raise ApiError(406034)
        for field in ("train_config.output_UrlSource", "train_config.code_UrlSource",
                      "dataset_config.trainset_UrlSource", "dataset_config.evalset_UrlSource"):
            if field in values and values[field] not in SOURCES:
                raise invalid(field)
        self._input_path(values, "train_config.code", 406019)
        if not values["train_config.start_cmd"].strip():
            raise ApiError(406020)
        self._output_path(values)
        self._input_path(values, "dataset_config.trainset", 406022)
        self._input_path(values, "dataset_config.evalset", 406023)
        self._image(values)

    def _input_path(self, values: dict[str, Any], prefix: str, code: int) -> None:
        path = values.get(f"{prefix}_path")
        if not path:
            return
        storage = self.storages[values[f"{prefix}_UrlSource"]]
        try:
            storage.validate(path)
            found = storage.exists(path)
        except StoreError as exc:  # the store, not the path: the user can only try again
            raise ApiError(406000, f"internal server error: the {values[f'{prefix}_UrlSource']}"
                                   f" store could not be asked about {prefix}_path ({exc}); "
                                   "try again later") from None
        except (PathError, OSError):
            found = False
        if not found:
            raise ApiError(code)

    def _output_path(self, values: dict[str, Any]) -> None:
        path = values["train_config.output_path"]
        if not path.strip():
            raise ApiError(406021)
        try:
            self.storages[values["train_config.output_UrlSource"]].validate(path)
        except PathError:
            raise ApiError(406021) from None

    @staticmethod
    def _image(values: dict[str, Any]) -> None:
        if values["train_config.env_type"] == "CCR":
            for field, code in (("image", 406030), ("tag", 406031),
                                ("distribute_strategy", 406032)):
                if not values.get(f"train_config.{field}", "").strip():
                    raise ApiError(code)
            if not IMAGE.match(values["train_config.image"]):
                raise ApiError(406033)
        strategy = values.get("train_config.distribute_strategy")
        if strategy is not None and strategy not in STRATEGIES:
            raise invalid("train_config.distribute_strategy")

    # --- rules on resources ------------------------------------------------------------

    def _resources(self, values: dict[str, Any]) -> Pool:
        resource_type = values.get("resource_config.resource_type", "PUBLIC")
        if resource_type not in ("PUBLIC", "USER"):
            raise ApiError(406028)
        pool = self.find_pool(resource_type, values["resource_config.resource_name"])
        if pool is None:
            raise ApiError(406100)
        if not 1 <= values["resource_config.node_count"] <= pool.max_nodes:
            raise ApiError(406101)
        if not 1 <= values["resource_config.max_duration"] <= 168:
            raise invalid("resource_config.max_duration")
        for field, limit, code in (("cpu_num", pool.cpus_per_node, 406102),
                                   ("memory", pool.memory_gb, 406103),
                                   ("gpu_num", pool.gpus_per_node, 406104)):
            if values.get(f"resource_config.{field}", 0) > limit:
                raise ApiError(code)
        return pool

    @staticmethod
    def _spec(values: dict[str, Any], project: str, pool: Pool) -> JobSpec:
        def get(field: str) -> Any:
            value = values.get(field)
            return None if value == "" else value

        return JobSpec(
            project=project, name=values["name"], description=values["description"],
            env_type=get("train_config.env_type"),
            output_source=get("train_config.output_UrlSource"),
            output_path=get("train_config.output_path"),
            code_source=get("train_config.code_UrlSource"),
            code_path=get("train_config.code_path"),
            start_cmd=get("train_config.start_cmd"),
            image=get("train_config.image"), tag=get("train_config.tag"),
            repository_id=get("train_config.repository_id"),
            distribute_strategy=get("train_config.distribute_strategy"),
            trainset_source=get("dataset_config.trainset_UrlSource"),
            trainset_path=get("dataset_config.trainset_path"),
            evalset_source=get("dataset_config.evalset_UrlSource"),
            evalset_path=get("dataset_config.evalset_path"),
            resource_type=pool.type, resource_name=pool.name,
            node_count=values["resource_config.node_count"],
            max_duration=values["resource_config.max_duration"],
            gpu_type=get("resource_config.gpu_type"),
            gpu_num=values.get("resource_config.gpu_num"),
            cpu_num=values.get("resource_config.cpu_num"),
            memory=values.get("resource_config.memory"),
            rdma=bool(values.get("resource_config.rdma", False)))


def check_text(value: str, limit: int, empty: int, too_long: int) -> None:
    if not value.strip():
        raise ApiError(empty)
    if len(value) > limit:
        raise ApiError(too_long)
    if EMOJI.search(value):
        raise ApiError(406036)
