"""Two bml-run.json records side by side: what was the same, what differed, and the
metrics both wrote. Inputs (image, code, data, command) decide whether the runs match;
resources and versions are shown beside them."""
from typing import Any

INPUTS = ("image", "code", "trainset", "evalset", "command")
SETTING = ("resources", "versions")


def _get(record: dict[str, Any], *path: str) -> Any:
    value: Any = record
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def facets(record: dict[str, Any]) -> dict[str, Any]:
    """What each compared aspect of a run amounts to."""
    image = record.get("image") or {}
    train = _get(record, "create_body", "train_config") or {}
    resources = record.get("resources") or {}
    return {
        "image": image.get("digest") or image.get("id") or train.get("image") and
        f"{train.get('image')}:{train.get('tag')}" or None,
        "code": _get(record, "inputs", "code", "sha256"),
        "trainset": _get(record, "inputs", "trainset", "sha256"),
        "evalset": _get(record, "inputs", "evalset", "sha256"),
        "command": {k: train.get(k) for k in ("env_type", "start_cmd", "distribute_strategy")},
        "resources": {k: resources.get(k) for k in ("node_count", "gpu_num", "cpu_num",
                                                    "memory", "gpu_type")},
        "versions": {"bmlocal": _get(record, "versions", "bmlocal"),
                     **(_get(record, "versions", "frameworks") or {})},
    }


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    fa, fb = facets(a), facets(b)
    aspects = {name: {"same": fa[name] == fb[name], "a": fa[name], "b": fb[name]}
               for name in (*INPUTS, *SETTING)}
    return {
        "a": a.get("job"), "b": b.get("job"),
        "inputs_match": all(aspects[name]["same"] for name in INPUTS),
        "differ": [name for name, aspect in aspects.items() if not aspect["same"]],
        "aspects": aspects,
        "metrics": metric_table(a.get("metrics") or {}, b.get("metrics") or {}),
        "status": {"a": _get(a, "status", "final"), "b": _get(b, "status", "final")},
    }


def metric_table(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    table = {}
    for name in sorted(set(a) | set(b)):
        va, vb = a.get(name), b.get(name)
        both = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb))
        table[name] = {"a": va, "b": vb, "diff": (vb - va) if both else None}
    return table


def is_record(data: Any) -> bool:
    return isinstance(data, dict) and data.get("bml_run") == 1
