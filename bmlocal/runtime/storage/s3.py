"""BOS through an S3-compatible endpoint (the cloud's BOS, MinIO, ...), with boto3."""

import hashlib
import ipaddress
import math
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from s3transfer.exceptions import CancelledError, RetriesExceededError
from s3transfer.futures import TransferFuture
from s3transfer.manager import TransferManager
from s3transfer.subscribers import BaseSubscriber

from bmlocal.runtime.storage.paths import BosPath, PathError, clean_parts

MB = 1024 * 1024
ADDRESSING_STYLES = ("auto", "path", "virtual")
CHECKSUM_MODES = ("when_required", "when_supported")
ENVIRONMENT = {
    "endpoint": "BMLOCAL_BOS_ENDPOINT",
    "access_key": "BMLOCAL_BOS_ACCESS_KEY",
    "secret_key": "BMLOCAL_BOS_SECRET_KEY",
    "region": "BMLOCAL_BOS_REGION",
    "sync_interval_seconds": "BMLOCAL_BOS_SYNC_INTERVAL_SECONDS",
    "addressing_style": "BMLOCAL_BOS_ADDRESSING_STYLE",
    "final_sync_timeout_seconds": "BMLOCAL_BOS_FINAL_SYNC_TIMEOUT_SECONDS",
    "checksums": "BMLOCAL_BOS_CHECKSUMS",
}
# SigV4 needs a region; S3-compatible stores that ignore it accept the AWS default.
DEFAULT_REGION = "us-east-1"
DEFAULT_SYNC_INTERVAL = 5.0
DEFAULT_FINAL_SYNC_TIMEOUT = 120.0
# 16 MiB parts: half the requests of boto3's 8 MiB for a large checkpoint, and an output
# file of up to 16 MiB goes up in one PUT. Concurrency spans files: a sync hands all its
# changed files to one transfer manager instead of uploading them one after another.
TRANSFER = TransferConfig(
    multipart_threshold=16 * MB,
    multipart_chunksize=16 * MB,
    max_concurrency=16,
    preferred_transfer_client="classic",
)
MIN_SCRUBBED = 4
STORE_ERRORS = (BotoCoreError, ClientError, RetriesExceededError)
UNREACHABLE = (BotoConnectionError, ConnectionClosedError)
STORE_DOWN = (*UNREACHABLE, ReadTimeoutError)


@dataclass(frozen=True)
class BosSettings:
    """The `[bos]` table; the keys are left out of repr so that they never reach a log."""

    endpoint: str
    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    region: str | None = None
    sync_interval_seconds: float = DEFAULT_SYNC_INTERVAL
    addressing_style: str = "auto"
    final_sync_timeout_seconds: float = DEFAULT_FINAL_SYNC_TIMEOUT
    # botocore >= 1.36 adds CRC checksums by default, which several S3-compatible stores
    # reject: by default they are sent only where an operation requires one.
    checksums: str = "when_required"


def bos_settings(table: Mapping, environ: Mapping[str, str]) -> BosSettings | None:
    """Settings from the `[bos]` TOML table, each key overridden by its BMLOCAL_BOS_*
    variable; None when no endpoint is configured. ValueError names a bad key, never its value."""
    unknown = sorted(set(table) - set(ENVIRONMENT))
    if unknown:
        raise ValueError(f"unknown key(s) in [bos]: {', '.join(unknown)}")
    values = {name: environ.get(var) or table.get(name) for name, var in ENVIRONMENT.items()}
    if not values["endpoint"]:
        return None
    return BosSettings(
        endpoint=_endpoint(values["endpoint"]),
        access_key=_required(values, "access_key"),
        secret_key=_required(values, "secret_key"),
        region=_optional(values, "region"),
        sync_interval_seconds=_seconds(values, "sync_interval_seconds", DEFAULT_SYNC_INTERVAL),
        addressing_style=_style(values["addressing_style"]),
        final_sync_timeout_seconds=_seconds(values, "final_sync_timeout_seconds",
                                            DEFAULT_FINAL_SYNC_TIMEOUT),
        checksums=_checksums(values["checksums"]),
    )


def _endpoint(value: object) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("bos.endpoint must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "bos.endpoint may not hold credentials; use bos.access_key and bos.secret_key"
        )
    return value.rstrip("/")


def _required(values: dict, name: str) -> str:
    value = values[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"bos.{name} is required with bos.endpoint")
    return value


def _optional(values: dict, name: str) -> str | None:
    value = values[name]
    if value is not None and not isinstance(value, str):
        raise ValueError(f"bos.{name} must be a string")
    return value or None


def _seconds(values: dict, name: str, default: float) -> float:
    value = values[name]
    if value is None:
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"bos.{name} must be a number") from None
    if not 0 < seconds < math.inf or isinstance(value, bool):
        raise ValueError(f"bos.{name} must be a positive number")
    return seconds


def _checksums(value: object) -> str:
    mode = value or "when_required"
    if mode not in CHECKSUM_MODES:
        raise ValueError(f"bos.checksums must be one of {', '.join(CHECKSUM_MODES)}")
    return mode


def _style(value: object) -> str:
    style = value or "auto"
    if style not in ADDRESSING_STYLES:
        raise ValueError(f"bos.addressing_style must be one of {', '.join(ADDRESSING_STYLES)}")
    return style


class StoreError(OSError):
    """The store failed or refused. Messages are built from error codes, never from
    credentials. `not_uploaded`: the files a sync_out left out of the store."""

    def __init__(self, message: str, not_uploaded: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.not_uploaded = not_uploaded


@dataclass(frozen=True)
class _Object:
    key: str
    size: int
    etag: str
    mtime_ns: int  # the cache entry's mtime: whole seconds of LastModified


class _Known(BaseSubscriber):
    """Hands s3transfer the size and ETag already listed: no second HEAD, and every GET
    carries If-Match, so the cached bytes are those of that ETag."""

    def __init__(self, obj: _Object) -> None:
        self.obj = obj

    def on_queued(self, future: TransferFuture, **kwargs: object) -> None:
        future.meta.provide_transfer_size(self.obj.size)
        future.meta.provide_object_etag(self.obj.etag)


def make_client(
    settings: BosSettings, connections: int = TRANSFER.max_request_concurrency
) -> BaseClient:
    """An S3 client with bounded timeouts and retries for an S3-compatible endpoint."""
    session = boto3.session.Session(
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region or DEFAULT_REGION,
    )
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": _addressing(settings)},
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=connections,
        request_checksum_calculation=settings.checksums,
        response_checksum_validation=settings.checksums,
    )
    return session.client("s3", endpoint_url=settings.endpoint, config=config)


def _addressing(settings: BosSettings) -> str:
    """With "auto": path-style for an IP or localhost endpoint (bucket.127.0.0.1 resolves
    nowhere), else botocore's own choice, virtual-host for DNS-compatible buckets."""
    if settings.addressing_style != "auto":
        return settings.addressing_style
    host = urlsplit(settings.endpoint).hostname or ""
    if host == "localhost":
        return "path"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "auto"
    return "path"


class S3Storage:
    """BOS paths `/bucket/key` on an S3-compatible store; downloads are kept in
    `cache_dir`, keyed by bucket, key and ETag."""

    def __init__(
        self, settings: BosSettings, cache_dir: Path, transfer: TransferConfig = TRANSFER
    ) -> None:
        self.settings = settings
        self.cache_dir = cache_dir
        self.transfer = transfer
        self.client = make_client(settings, transfer.max_request_concurrency)

    def validate(self, path: str) -> None:
        BosPath.parse(path)

    def exists(self, path: str) -> bool:
        bos = BosPath.parse(path)
        with self._translated():
            if _is_object_key(bos.key) and self._head(bos.bucket, bos.key) is not None:
                return True
            return next(self._listing(bos.bucket, _prefix(bos.key), limit=1), None) is not None

    def fetch(self, path: str, dest: Path) -> Path:
        bos = BosPath.parse(path)
        with self._translated():
            obj = self._head(bos.bucket, bos.key) if _is_object_key(bos.key) else None
            if obj is not None:
                target = dest / bos.parts[-1]
                self._download(bos.bucket, [(obj, target)])
                return target
            target = dest / (bos.parts[-1] if bos.parts else bos.bucket)
            self._download_prefix(bos, target)
            return target

    def output_dir(self, path: str, scratch: Path) -> Path:
        BosPath.parse(path)
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch

    def sync_out(self, local: Path, path: str, files: list[str]) -> None:
        """Upload `files` (relative to `local`) under `path`, all at once; a file that
        vanished before its upload is skipped, being no longer an output of the job."""
        bos = BosPath.parse(path)
        prefix = _prefix(bos.key)
        failed: list[str] = []
        reason = ""
        with self._manager() as manager:
            futures = {
                name: manager.upload(str(local / name), bos.bucket, prefix + name) for name in files
            }
            for name, future in futures.items():
                error = _outcome(future)
                if error is None or isinstance(error, FileNotFoundError):
                    continue
                failed.append(name)
                reason = reason or self._describe(error)
                if isinstance(error, STORE_DOWN):
                    _cancel(futures.values())
        if failed:
            raise StoreError(reason, tuple(failed))

    def _manager(self) -> TransferManager:
        return create_transfer_manager(self.client, self.transfer)

    def _head(self, bucket: str, key: str) -> _Object | None:
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if _status(exc) == 404:
                return None
            raise
        return _Object(
            key, head["ContentLength"], head["ETag"], _whole_seconds_ns(head["LastModified"])
        )

    def _listing(self, bucket: str, prefix: str, limit: int | None = None) -> Iterator[dict]:
        """The objects under `prefix`; none when the bucket does not exist."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"MaxItems": limit}
        )
        try:
            for page in pages:
                yield from page.get("Contents", [])
        except ClientError as exc:
            if _status(exc) != 404:
                raise

    def _download_prefix(self, bos: BosPath, target: Path) -> None:
        """Every key is checked before anything is written."""
        prefix = _prefix(bos.key)
        directories = [target]
        plan: dict[Path, _Object] = {}
        for item in self._listing(bos.bucket, prefix):
            local = target.joinpath(*_relative_parts(item["Key"], prefix, bos))
            if item["Key"].endswith("/"):
                directories.append(local)  # a directory marker
                continue
            if local in plan:
                raise PathError(f"object keys {plan[local].key!r} and {item['Key']!r} collide")
            plan[local] = _Object(
                item["Key"], item["Size"], item["ETag"], _whole_seconds_ns(item["LastModified"])
            )
        if len(directories) == 1 and not plan:
            raise FileNotFoundError(f"{bos} not found")
        for directory in directories:
            directory.mkdir(parents=True, exist_ok=True)
        self._download(bos.bucket, [(obj, local) for local, obj in plan.items()])

    def _download(self, bucket: str, plan: list[tuple[_Object, Path]]) -> None:
        """Bring each object into the cache unless its ETag is there already, then link
        (or copy) it to its local path."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        entries = [(obj, self._entry(bucket, obj), local) for obj, local in plan]
        missing = [(obj, entry) for obj, entry, _ in entries if not _fresh(entry, obj)]
        with self._manager() as manager:
            futures = [
                manager.download(bucket, obj.key, str(entry), subscribers=[_Known(obj)])
                for obj, entry in missing
            ]
            for future in futures:
                future.result()
        for obj, entry in missing:
            os.utime(entry, ns=(obj.mtime_ns, obj.mtime_ns))
            _drop_stale(entry)
        for _, entry, local in entries:
            _place(entry, local)

    def _entry(self, bucket: str, obj: _Object) -> Path:
        # Hashed names: no key, however hostile, becomes a path in the cache.
        return self.cache_dir / f"{_digest(bucket, obj.key)}-{_digest(obj.etag)[:16]}"

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except STORE_ERRORS as exc:
            raise StoreError(self._describe(exc)) from None

    def _describe(self, exc: BaseException) -> str:
        endpoint = self.settings.endpoint
        if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
            text = f"store timed out at {endpoint}"
        elif isinstance(exc, UNREACHABLE):
            text = f"store unreachable at {endpoint}"
        elif isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code") or _status(exc)
            text = f"store refused {exc.operation_name}: {code}"
        elif isinstance(exc, OSError) and not isinstance(exc, BotoCoreError):
            text = str(exc)
        else:
            text = f"store error at {endpoint}: {type(exc).__name__}"
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        """The server picks error codes; make sure none echoes a key back (keys too short
        to be real ones are left alone: scrubbing them would garble every message)."""
        for secret in (self.settings.secret_key, self.settings.access_key):
            if len(secret) >= MIN_SCRUBBED:
                text = text.replace(secret, "***")
        return text


def _outcome(future: TransferFuture) -> BaseException | None:
    try:
        future.result()
    except (*STORE_ERRORS, CancelledError, OSError) as exc:
        return exc
    return None


def _cancel(futures: Iterable[TransferFuture]) -> None:
    """The store is down: fail the remaining uploads now instead of each one retrying."""
    for future in futures:
        if not future.done():
            future.cancel()


def _status(exc: ClientError) -> int | None:
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _is_object_key(key: str) -> bool:
    return bool(key) and not key.endswith("/")


def _prefix(key: str) -> str:
    """The listing prefix of a directory-like key: '' for a whole bucket, else 'key/'."""
    return key if not key or key.endswith("/") else key + "/"


def _relative_parts(key: str, prefix: str, bos: BosPath) -> tuple[str, ...]:
    try:
        parts = clean_parts(key[len(prefix) :])
    except PathError as exc:
        raise PathError(f"object key {key!r} under {bos} is refused: {exc}") from None
    if not parts and not key.endswith("/"):
        raise PathError(f"object key {key!r} under {bos} names no file")
    return parts


def _whole_seconds_ns(moment: datetime) -> int:
    # HEAD gives whole seconds and LIST milliseconds; both must mark a cache entry alike.
    return int(moment.timestamp()) * 1_000_000_000


def _digest(*values: str) -> str:
    return hashlib.sha256("\x00".join(values).encode()).hexdigest()


def _fresh(entry: Path, obj: _Object) -> bool:
    """The entry holds this ETag's bytes, untouched: a job that writes into a file hard-
    linked from the cache changes its mtime, and the entry is then downloaded again."""
    try:
        st = entry.stat()
    except FileNotFoundError:
        return False
    return st.st_size == obj.size and st.st_mtime_ns == obj.mtime_ns


def _drop_stale(entry: Path) -> None:
    """Remove the entries of the same key with an older ETag, but not the temporary
    files (longer names) of downloads still running."""
    key_digest = entry.name.partition("-")[0]
    for old in entry.parent.glob(f"{key_digest}-*"):
        if old.name != entry.name and len(old.name) == len(entry.name):
            old.unlink(missing_ok=True)


def _place(entry: Path, local: Path) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(entry, local)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(entry, local)
