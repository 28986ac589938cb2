"""A validated create request, as the runtime keeps it."""
import json
from dataclasses import dataclass, fields
from functools import lru_cache

FRAMEWORKS = {"PytorchDDP": "PyTorch", "PaddleFleet": "PaddlePaddle", "Horovod": "Horovod"}


@dataclass(frozen=True)
class JobSpec:
    project: str
    name: str
    description: str
    env_type: str
    output_source: str
    output_path: str
    code_source: str
    start_cmd: str
    node_count: int
    resource_name: str
    max_duration: int
    resource_type: str = "PUBLIC"
    code_path: str | None = None
    image: str | None = None
    tag: str | None = None
    repository_id: str | None = None
    distribute_strategy: str | None = None
    trainset_source: str | None = None
    trainset_path: str | None = None
    evalset_source: str | None = None
    evalset_path: str | None = None
    gpu_type: str | None = None
    gpu_num: int | None = None
    cpu_num: int | None = None
    memory: int | None = None
    rdma: bool = False

    @property
    def pool_key(self) -> str:
        return f"{self.resource_type}/{self.resource_name}"

    @property
    def framework(self) -> str:
        return FRAMEWORKS.get(self.distribute_strategy or "", "")

    def to_json(self) -> str:
        # every field is a plain value: no need for asdict's deep copy
        return json.dumps(vars(self), ensure_ascii=False)

    @staticmethod
    @lru_cache(maxsize=4096)
    def from_json(text: str) -> "JobSpec":
        # stored specs never change and JobSpec is frozen: each text is parsed once, not
        # at every detail and list item
        known = {f.name for f in fields(JobSpec)}
        return JobSpec(**{k: v for k, v in json.loads(text).items() if k in known})
