"""What a cloud job reads, copied to local storage so that its replay needs no network: its
code and dataset paths on the cloud's BOS into the local bucket directories or a local S3
server, its image into the local Docker engine, and a manifest of ETags, sizes and digests.

Everything is listed before anything is written: a source that cannot be reached leaves
nothing behind. Each object is written under a temporary name and renamed into place;
the manifest, written last the same way, is what says a mirror is complete. A second run
copies only the objects whose ETag or size changed, or that are missing at the
destination."""
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from bmlocal.runtime.storage.base import StoreError
from bmlocal.runtime.storage.paths import BosPath, PathError, clean_parts, inside
from bmlocal.runtime.storage.s3client import make_client, status_of, translated
from bmlocal.runtime.storage.s3settings import BosSettings

INPUTS = (("code", "train_config"), ("trainset", "dataset_config"),
          ("evalset", "dataset_config"))
PARTIAL = ".mirror-partial"


class MirrorError(RuntimeError):
    """The mirror cannot be made; the message names the path or the store."""


@dataclass(frozen=True)
class Obj:
    key: str
    size: int
    etag: str


@dataclass
class Destination:
    """Local bucket directories under `root`, or an S3 server."""
    root: Path | None = None
    settings: BosSettings | None = None
    _client: BaseClient | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"dir {self.root}" if self.root else f"s3 {self.settings.endpoint}"

    @property
    def client(self) -> BaseClient:
        if self._client is None:
            self._client = make_client(self.settings, 8)
        return self._client


def inputs(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, path) of each BOS input of a create body."""
    found = []
    for name, section in INPUTS:
        where = body.get(section) or {}
        if where.get(f"{name}_path") and where.get(f"{name}_UrlSource") == "BOS":
            found.append((f"{section}.{name}_path", where[f"{name}_path"]))
    return found


def mirror(body: dict[str, Any], source: BosSettings, dest: Destination, manifest: Path,
           image: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Copy the job's BOS inputs from `source` to `dest`; the report, also in `manifest`."""
    wanted = inputs(body)
    src = make_client(source, 8)
    listed = {path: _list(src, source, place, path) for place, path in wanted}
    before = _load(manifest)
    report: dict[str, Any] = {"version": 1, "job": body.get("name"), "source": source.endpoint,
                              "destination": dest.name, "paths": {}, "image": None}
    for place, path in wanted:
        report["paths"][path] = _copy_path(src, source, dest, place, path, listed[path],
                                           before.get("paths", {}).get(path, {}))
    output = (body.get("train_config") or {})
    if output.get("output_UrlSource") == "BOS" and output.get("output_path"):
        _ensure_bucket(dest, BosPath.parse(output["output_path"]).bucket)
    report["image"] = image() if image else None
    report["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    report["complete"] = True
    _save(manifest, report)
    return report


def _list(src: BaseClient, settings: BosSettings, place: str, path: str) -> list[Obj]:
    try:
        bos = BosPath.parse(path)
    except PathError as exc:
        raise MirrorError(f"{place}: {path} is not a BOS path: {exc}") from None
    try:
        with translated(settings):
            objects = _objects(src, bos)
    except StoreError as exc:
        raise MirrorError(f"{place}: cannot read {path} from the source: {exc}") from None
    if not objects:
        raise MirrorError(f"{place}: {path} not found at the source {settings.endpoint}")
    return objects


def _objects(src: BaseClient, bos: BosPath) -> list[Obj]:
    if bos.key and not bos.key.endswith("/"):
        try:
            head = src.head_object(Bucket=bos.bucket, Key=bos.key)
            return [Obj(bos.key, head["ContentLength"], head["ETag"])]
        except ClientError as exc:
            if status_of(exc) != 404:
                raise
    prefix = bos.key if not bos.key or bos.key.endswith("/") else bos.key + "/"
    found = []
    try:
        for page in src.get_paginator("list_objects_v2").paginate(Bucket=bos.bucket,
                                                                  Prefix=prefix):
            found += [Obj(o["Key"], o["Size"], o["ETag"]) for o in page.get("Contents", [])
                      if not o["Key"].endswith("/")]
    except ClientError as exc:
        if status_of(exc) != 404:
            raise
    return found


def _copy_path(src: BaseClient, source: BosSettings, dest: Destination, place: str,
               path: str, objects: list[Obj], before: dict[str, Any]) -> dict[str, Any]:
    bucket = BosPath.parse(path).bucket
    known = before.get("objects", {})
    copied = skipped = size = 0
    _ensure_bucket(dest, bucket)
    for obj in objects:
        old = known.get(obj.key, {})
        if old.get("etag") == obj.etag and old.get("size") == obj.size and \
                _present(dest, bucket, obj):
            skipped += 1
            continue
        try:
            with translated(source):
                _copy(src, dest, bucket, obj)
        except (StoreError, PathError, OSError) as exc:
            raise MirrorError(f"{place}: copying {obj.key} of {path} failed: {exc}") from None
        copied, size = copied + 1, size + obj.size
    return {"field": place, "objects": {o.key: {"etag": o.etag, "size": o.size}
                                        for o in objects},
            "copied": copied, "skipped": skipped, "bytes_copied": size}


def _local(dest: Destination, bucket: str, key: str) -> Path:
    return inside(dest.root, (bucket, *clean_parts(key)))


def _present(dest: Destination, bucket: str, obj: Obj) -> bool:
    if dest.root is not None:
        target = _local(dest, bucket, obj.key)
        return target.is_file() and target.stat().st_size == obj.size
    try:
        return dest.client.head_object(Bucket=bucket, Key=obj.key)["ContentLength"] == obj.size
    except ClientError:
        return False


def _copy(src: BaseClient, dest: Destination, bucket: str, obj: Obj) -> None:
    """One object, whole or not at all: a temporary file, checked, then renamed or put."""
    if dest.root is not None:
        target = _local(dest, bucket, obj.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        where = target.parent
    else:
        where = None
    with tempfile.NamedTemporaryFile(dir=where, prefix=".", suffix=PARTIAL,
                                     delete=False) as tmp:
        try:
            src.download_fileobj(bucket, obj.key, tmp)
            tmp.flush()
            if os.fstat(tmp.fileno()).st_size != obj.size:
                raise StoreError(f"{obj.key} changed while it was copied")
            if dest.root is not None:
                os.replace(tmp.name, target)
            else:
                tmp.seek(0)
                dest.client.put_object(Bucket=bucket, Key=obj.key, Body=tmp)
        finally:
            if os.path.exists(tmp.name):
                os.unlink(tmp.name)


def _ensure_bucket(dest: Destination, bucket: str) -> None:
    if dest.root is not None:
        _local(dest, bucket, "").mkdir(parents=True, exist_ok=True)
        return
    try:
        dest.client.head_bucket(Bucket=bucket)
    except ClientError as exc:
        if status_of(exc) not in (404, 400):
            raise MirrorError(f"destination {dest.name}: bucket {bucket}: {exc}") from None
        dest.client.create_bucket(Bucket=bucket)


def _load(manifest: Path) -> dict[str, Any]:
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("complete") else {}


def _save(manifest: Path, report: dict[str, Any]) -> None:
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_name(f".{manifest.name}{PARTIAL}")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, manifest)


def mirror_image(client: Any, reference: str, registry_known: bool) -> dict[str, Any]:
    """The image in the local engine (pulled when a registry is configured for it): its id
    and digest, or why it cannot be had."""
    if client is None:
        return {"reference": reference, "status": "unavailable", "note": "no Docker engine"}
    try:
        image = client.images.get(reference)
        status = "present"
    except Exception:  # noqa: BLE001 - docker's ImageNotFound, or an engine error
        if not registry_known:
            return {"reference": reference, "status": "unavailable",
                    "note": "not in the local engine and no registry is configured for it"}
        try:
            image = _pull(client, reference)
            status = "pulled"
        except Exception as exc:  # noqa: BLE001 - a registry that cannot be reached
            return {"reference": reference, "status": "unavailable",
                    "note": f"cannot pull: {str(exc)[:200] or type(exc).__name__}"}
    digests = image.attrs.get("RepoDigests") or []
    return {"reference": reference, "status": status, "id": image.id,
            "digest": digests[0].rpartition("@")[2] if digests else None}


def _pull(client: Any, reference: str) -> Any:
    """Streamed, so that a long pull is not cut by the client's read timeout."""
    name, _, tag = reference.rpartition(":")
    for event in client.api.pull(name, tag=tag, stream=True, decode=True):
        if "error" in event:
            raise RuntimeError(event["error"])
    return client.images.get(reference)
