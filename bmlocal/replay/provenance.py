"""bml-run.json: what a job ran with and how it ended, written when it ends, before the
final sync, into its output (so it travels with the results) and into its job directory
(so that two jobs writing one output path stay comparable by id).

Everything the job could have touched (its code, datasets and output directories) is read
and written through safefs: no link a job planted is followed."""
import hashlib
import json
import logging
import os
import subprocess
import time
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from bmlocal.replay.export import create_body, without_secrets
from bmlocal.runtime.layout import JobDir
from bmlocal.runtime.storage.paths import relative_to_root
from bmlocal.runtime.storage.safefs import NotRegular, open_dir, opened, scan, write_bytes
from bmlocal.runtime.store import Job

log = logging.getLogger("bmlocal.provenance")
NAME = "bml-run.json"
REPLAY_NAME = "replay.json"  # beside it in the job directory: where a replayed job came from
METRICS = "metrics.json"
METRICS_LIMIT = 1 << 20
PROBE_SECONDS = 120
SKIPPED = ("__pycache__",)  # written by the job's own imports, not part of its code
PACKAGES = ("torch", "paddlepaddle", "paddlepaddle-gpu", "horovod", "numpy", "tensorflow")
VERSIONS = ("import importlib.metadata as m, json, platform\n"
            "found = {'python': platform.python_version()}\n"
            f"for p in {PACKAGES!r}:\n"
            "    try: found[p] = m.version(p)\n"
            "    except Exception: pass\n"
            "print(json.dumps(found))")
_versions: dict[str, dict[str, str]] = {}  # interpreter or image id -> versions seen


def record(runner: Any, job: Job, status: Any, reason: str) -> None:
    """The end-of-job hook (Runner.finish, before the final delivery). Never raises: a
    record that cannot be written is an event line, not a failed job."""
    try:
        root, parts = output_place(runner, job, JobDir.of(runner.data_dir, job.id))
        data = build(runner, job, status.value, reason, (root, parts))
        write(runner.data_dir, ("jobs", str(job.id)), data)
        write(root, parts, data)
    except Exception as exc:  # noqa: BLE001 - a disk, an engine: the job's end goes on
        log.warning("job %s: %s not written: %s", job.id, NAME, exc)
        runner.event(job, f"{NAME} not written: {type(exc).__name__}")


def build(runner: Any, job: Job, status: str, reason: str,
          output: tuple[Path, tuple[str, ...]]) -> dict[str, Any]:
    """The record; `output` is the job's output directory as `output_place` gives it."""
    jd = JobDir.of(runner.data_dir, job.id)
    spec = job.spec
    executor = runner.executors.for_job(spec)
    exits = {rank: code for rank, _, code in runner.store.nodes(job.id)}
    image = image_info(executor, spec)
    root, parts = output
    record_ = {
        "bml_run": 1,
        "job": {"id": job.id, "name": job.name, "project": job.project},
        "create_body": without_secrets(create_body(spec)),
        "status": {"final": status, "reason": reason,
                   "exit_codes": {str(k): v for k, v in sorted(exits.items())}},
        "times": times(job, runner.clock.now()),
        "image": image,
        "inputs": {"code": tree_digest(jd.code),
                   "trainset": tree_digest(jd.train) if spec.trainset_path else None,
                   "evalset": tree_digest(jd.eval) if spec.evalset_path else None},
        "resources": resources(job),
        "versions": {"bmlocal": package_version("bmlocal"), "executor": executor.name,
                     "frameworks": frameworks(executor, image,
                                              runner.data_dir / "cache" / "versions")},
        "metrics": metrics(root, parts),
    }
    origin = read_json(jd.root, REPLAY_NAME)
    if origin:
        record_["replayed_from"] = {"kind": origin.get("kind"), "cloud_id": origin.get("cloud_id"),
                                    "changed": [r for r in origin.get("rows", [])
                                                if r.get("outcome") != "kept"]}
    return record_


def times(job: Job, now: float) -> dict[str, Any]:
    def stamp(t: float | None) -> str | None:
        return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    return {"created": stamp(job.create_time), "started": stamp(job.start_time),
            "ended": stamp(now),
            "run_seconds": None if job.start_time is None else round(now - job.start_time, 3)}


def resources(job: Job) -> dict[str, Any]:
    spec, grant = job.spec, job.grant
    return {"pool": spec.pool_key, "node_count": spec.node_count,
            "gpu_num": spec.gpu_num, "cpu_num": spec.cpu_num, "memory": spec.memory,
            "gpu_type": grant.get("gpu_type", spec.gpu_type or ""),
            "gpu_ids": grant.get("nodes", []), "rdma": spec.rdma,
            "distribute_strategy": spec.distribute_strategy or "", "env_type": spec.env_type}


def output_place(runner: Any, job: Job, jd: JobDir) -> tuple[Path, tuple[str, ...]]:
    """The trusted root and the parts below it of the job's output directory."""
    if job.spec.output_source == "PFS":
        storage = runner.storages["PFS"]
        out = storage.output_dir(job.spec.output_path, jd.scratch_output)
        return storage.root, relative_to_root(storage.root, out)
    return runner.data_dir, ("jobs", str(job.id), "output")


def tree_digest(root: Path) -> dict[str, Any] | None:
    """sha256 over each plain file's relative path and content, in path order; links are
    counted by their target's text, never followed."""
    if not root.is_dir():
        return None
    total, files, lines = 0, 0, []
    for entry in sorted(scan(root), key=lambda e: e.path):
        if any(part in SKIPPED for part in entry.path.split("/")) or entry.kind == "dir":
            continue
        if entry.kind == "file":
            digest = file_digest(root, entry.path)
            total, files = total + entry.size, files + 1
        else:
            digest = entry.kind
        lines.append(f"{entry.path}\0{digest}\n")
    whole = hashlib.sha256("".join(lines).encode("utf-8", "surrogateescape")).hexdigest()
    return {"sha256": whole, "files": files, "bytes": total}


def file_digest(root: Path, relative: str) -> str:
    sha = hashlib.sha256()
    try:
        with opened(root, relative) as fd:
            while chunk := os.read(fd, 1 << 20):
                sha.update(chunk)
    except (FileNotFoundError, NotRegular):
        return "gone"
    return sha.hexdigest()


def image_info(executor: Any, spec: Any) -> dict[str, Any] | None:
    client = getattr(executor, "client", None)
    if spec.env_type != "CCR" or not spec.image or client is None:
        return None
    from bmlocal.runtime.executors.docker import image_reference
    reference = image_reference(f"{spec.image}:{spec.tag}", spec.repository_id,
                                getattr(executor, "registries", {}))
    try:
        image = client.images.get(reference)
    except Exception as exc:  # noqa: BLE001 - gone since, an engine that stopped answering
        return {"reference": reference, "id": None, "digest": None, "note": type(exc).__name__}
    digests = image.attrs.get("RepoDigests") or []
    return {"reference": reference, "id": image.id,
            "digest": digests[0].rpartition("@")[2] if digests else None}


def frameworks(executor: Any, image: dict[str, Any] | None, cache: Path) -> dict[str, str]:
    """Versions of the frameworks found where the job ran: the host interpreter (asked once
    per server), or the image (asked once per image id, kept under `cache`)."""
    client = getattr(executor, "client", None)
    if image and image.get("id") and client is not None:
        key = image["id"]
        if key not in _versions:
            kept_file = cache / f"{key.replace(':', '-')}.json"
            _versions[key] = read_json(cache, kept_file.name) or _ask(
                lambda: _in_image(client, key))
            if "unknown" not in _versions[key]:
                cache.mkdir(parents=True, exist_ok=True)
                kept_file.write_text(json.dumps(_versions[key]))
        return _versions[key]
    if client is not None:  # a container whose image is not known now
        return {"unknown": "image not found"}
    python = getattr(executor, "python", "python")
    if python not in _versions:
        _versions[python] = _ask(lambda: subprocess.run(
            [python, "-c", VERSIONS], capture_output=True, timeout=30, check=True).stdout)
    return _versions[python]


def _in_image(client: Any, image_id: str) -> bytes:
    container = client.containers.create(image_id, ["-c", VERSIONS], entrypoint="python",
                                         network_mode="none")
    try:
        container.start()
        container.wait(timeout=PROBE_SECONDS)
        return container.logs(stdout=True, stderr=False)
    finally:
        container.remove(force=True)


def _ask(run: Any) -> dict[str, str]:
    try:
        found = json.loads(run())
    except Exception as exc:  # noqa: BLE001 - no python in the image, a timeout, ...
        return {"unknown": type(exc).__name__}
    return found if isinstance(found, dict) else {"unknown": "not an object"}


@lru_cache(maxsize=None)  # read once: scanning the installed distributions takes ms
def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def metrics(root: Path, parts: tuple[str, ...]) -> dict[str, float] | None:
    """The numbers of metrics.json at the top of the output, flattened to dotted names."""
    try:
        with opened(root, METRICS, start=parts) as fd:
            raw = os.read(fd, METRICS_LIMIT + 1)
        data = json.loads(raw) if len(raw) <= METRICS_LIMIT else None
    except (OSError, ValueError):
        return None
    found: dict[str, float] = {}
    flatten(data, "", found)
    return found or None


def flatten(value: Any, prefix: str, found: dict[str, float]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}.{key}" if prefix else str(key), found)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and prefix:
        found[prefix] = value


def write(root: Path, parts: tuple[str, ...], data: dict[str, Any], name: str = NAME) -> None:
    """`name` under root/parts, complete or not at all (a temporary file renamed over it,
    never through a link)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    out = open_dir(root, parts, create=True)
    try:
        write_bytes(out, name, text.encode())
    finally:
        os.close(out)


def read_json(directory: Path, name: str) -> dict[str, Any] | None:
    """A small JSON file the server wrote in a job directory; None if absent or unreadable."""
    try:
        with opened(directory, name) as fd:
            data = json.loads(os.read(fd, METRICS_LIMIT))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def kept(data_dir: Path, job_id: int) -> dict[str, Any] | None:
    """The job's own copy of its bml-run.json."""
    return read_json(JobDir.of(data_dir, job_id).root, NAME)
