"""The create body that runs a local job again, here or in the cloud (round trip with
replay), and the same body with secrets masked for a job's provenance."""
import re
from typing import Any

from bmlocal.runtime.spec import JobSpec

# NAME=value words and --flag value pairs of a start_cmd whose name says "secret"
SECRET_NAME = r"[A-Za-z0-9_.-]*(?:KEY|SECRET|TOKEN|PASSWORD|PASSWD|CREDENTIAL)[A-Za-z0-9_]*"
SECRET_ASSIGN = re.compile(rf"\b({SECRET_NAME})=(\S+)", re.IGNORECASE)
SECRET_FLAG = re.compile(rf"(--{SECRET_NAME})(=|\s+)(\S+)", re.IGNORECASE)
URL_PASSWORD = re.compile(r"(://[^/\s:@]+):[^/\s@]+@")
MASK = "***"


def create_body(spec: JobSpec) -> dict[str, Any]:
    """The create request that `spec` was made from (empty optional fields left out)."""
    train = {"env_type": spec.env_type, "start_cmd": spec.start_cmd,
             "output_UrlSource": spec.output_source, "output_path": spec.output_path,
             "code_UrlSource": spec.code_source}
    optional = {"code_path": spec.code_path, "image": spec.image, "tag": spec.tag,
                "repository_id": spec.repository_id,
                "distribute_strategy": spec.distribute_strategy}
    train.update({k: v for k, v in optional.items() if v})
    dataset: dict[str, Any] = {}
    for name, path, source in (("trainset", spec.trainset_path, spec.trainset_source),
                               ("evalset", spec.evalset_path, spec.evalset_source)):
        if path:
            dataset.update({f"{name}_path": path, f"{name}_UrlSource": source})
    resource: dict[str, Any] = {"resource_type": spec.resource_type,
                                "node_count": spec.node_count,
                                "resource_name": spec.resource_name,
                                "max_duration": spec.max_duration, "rdma": spec.rdma}
    if spec.gpu_type:
        resource["gpu_type"] = spec.gpu_type
    resource.update({k: v for k, v in (("gpu_num", spec.gpu_num), ("cpu_num", spec.cpu_num),
                                        ("memory", spec.memory)) if v is not None})
    return {"name": spec.name, "description": spec.description, "prjId": spec.project,
            "train_config": train, "dataset_config": dataset, "resource_config": resource}


def for_cloud(spec: JobSpec, origin: dict[str, Any] | None) -> dict[str, Any]:
    """The body for the cloud: a replayed job gets back the cloud's own resources (its
    pool, node count and per-node figures) in place of the local ones they were mapped to."""
    body = create_body(spec)
    if origin and isinstance(origin.get("resource_config"), dict):
        body["resource_config"] = dict(origin["resource_config"])
        if origin.get("name"):
            body["name"] = origin["name"]
    return body


def masked(text: str) -> str:
    text = SECRET_ASSIGN.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = SECRET_FLAG.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{MASK}@", text)


def without_secrets(body: dict[str, Any]) -> dict[str, Any]:
    """`body` with every string field's secrets masked (start_cmd above all)."""
    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return masked(value) if isinstance(value, str) else value
    return clean(body)
