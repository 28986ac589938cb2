"""BOS through an S3-compatible endpoint (the cloud's BOS, MinIO, ...): the Storage of
`/bucket/key` paths, with downloads through the cache and uploads of a job's outputs.
Settings live in s3settings, the client and its errors in s3client, the cache in s3cache."""

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import ClientError
from s3transfer.exceptions import CancelledError
from s3transfer.futures import TransferFuture
from s3transfer.manager import TransferManager
from s3transfer.subscribers import BaseSubscriber

from bmlocal.runtime.storage.base import StoreError
from bmlocal.runtime.storage.paths import BosPath, PathError, clean_parts
from bmlocal.runtime.storage.s3cache import CachedObject, DownloadCache, whole_seconds_ns
from bmlocal.runtime.storage.s3client import (STORE_DOWN, STORE_ERRORS, describe, make_client,
                                              status_of, translated)
from bmlocal.runtime.storage.s3settings import BosSettings, bos_settings
from bmlocal.runtime.storage.safefs import NotRegular, opened

__all__ = ["BosSettings", "S3Storage", "StoreError", "bos_settings", "TRANSFER"]

MB = 1024 * 1024
# 16 MiB parts: half the requests of boto3's 8 MiB for a large checkpoint, and an output
# file of up to 16 MiB goes up in one PUT. Concurrency spans files: a sync hands all its
# changed files to one transfer manager instead of uploading them one after another.
TRANSFER = TransferConfig(
    multipart_threshold=16 * MB,
    multipart_chunksize=16 * MB,
    max_concurrency=16,
    preferred_transfer_client="classic",
)
CACHE_TRIES = 2
OPEN_AT_ONCE = 256  # output files held open at once by one upload pass


class _Known(BaseSubscriber):
    """Hands s3transfer the size and ETag already listed: no second HEAD, and every GET
    carries If-Match, so the cached bytes are those of that ETag."""

    def __init__(self, obj: CachedObject) -> None:
        self.obj = obj

    def on_queued(self, future: TransferFuture, **kwargs: object) -> None:
        future.meta.provide_transfer_size(self.obj.size)
        future.meta.provide_object_etag(self.obj.etag)


class S3Storage:
    """BOS paths `/bucket/key` on an S3-compatible store; downloads are kept in
    `cache_dir`, keyed by bucket, key and ETag."""

    def __init__(
        self, settings: BosSettings, cache_dir: Path, transfer: TransferConfig = TRANSFER
    ) -> None:
        self.settings = settings
        self.cache = DownloadCache(cache_dir)
        self.transfer = transfer
        self.client = make_client(settings, transfer.max_request_concurrency)
        self.probe = make_client(settings, 4, probe=True)

    @property
    def cache_dir(self) -> Path:
        return self.cache.root

    def validate(self, path: str) -> None:
        BosPath.parse(path)

    def exists(self, path: str) -> bool:
        """With the short timeouts: `create` calls it while its client waits."""
        bos = BosPath.parse(path)
        with translated(self.settings):
            if _is_object_key(bos.key) and self._head(bos.bucket, bos.key, self.probe):
                return True
            listing = self._listing(bos.bucket, _prefix(bos.key), limit=1, client=self.probe)
            return next(listing, None) is not None

    def fetch(self, path: str, dest: Path) -> Path:
        bos = BosPath.parse(path)
        with translated(self.settings):
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
        """Upload `files` (relative to `local`) under `path`, all at once. Each is opened
        without following links and uploaded through its descriptor, so a job that swaps a
        file for a link meanwhile uploads only its own bytes; a file that vanished, or is
        no longer a plain file, is skipped, being no longer an output of the job."""
        bos = BosPath.parse(path)
        failed: list[str] = []
        reasons: list[str] = []
        with self._manager() as manager:
            for start in range(0, len(files), OPEN_AT_ONCE):
                batch = files[start:start + OPEN_AT_ONCE]
                if self._upload(manager, local, bos, batch, failed, reasons):
                    failed += files[start + OPEN_AT_ONCE:]  # the store is down: stop here
                    break
        if failed:
            raise StoreError(reasons[0], tuple(failed))

    def _upload(self, manager: TransferManager, local: Path, bos: BosPath, names: list[str],
                failed: list[str], reasons: list[str]) -> bool:
        """Upload one batch, adding what did not reach the store to `failed`; whether the
        store is down."""
        down = False
        prefix = _prefix(bos.key)
        with ExitStack() as files_open:
            futures = {}
            for name in names:
                try:
                    fd = files_open.enter_context(opened(local, name))
                except (FileNotFoundError, NotADirectoryError, NotRegular):
                    continue
                except OSError as exc:
                    failed.append(name)
                    reasons.append(describe(exc, self.settings))
                    continue
                # The descriptor's own path: s3transfer reopens it per part, and it names
                # the file opened above, whatever the job has put at `name` since.
                futures[name] = manager.upload(f"/proc/self/fd/{fd}", bos.bucket,
                                               prefix + name)
            for name, future in futures.items():
                error = _outcome(future)
                if error is None:
                    continue
                failed.append(name)
                if not reasons:
                    reasons.append(describe(error, self.settings))
                if isinstance(error, STORE_DOWN):
                    down = True
                    _cancel(futures.values())
        return down

    def _manager(self) -> TransferManager:
        return create_transfer_manager(self.client, self.transfer)

    def _head(self, bucket: str, key: str, client: object = None) -> CachedObject | None:
        try:
            head = (client or self.client).head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if status_of(exc) == 404:
                return None
            raise
        return CachedObject(
            key, head["ContentLength"], head["ETag"], whole_seconds_ns(head["LastModified"])
        )

    def _listing(self, bucket: str, prefix: str, limit: int | None = None,
                 client: object = None) -> Iterator[dict]:
        """The objects under `prefix`; none when the bucket does not exist."""
        paginator = (client or self.client).get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"MaxItems": limit}
        )
        try:
            for page in pages:
                yield from page.get("Contents", [])
        except ClientError as exc:
            if status_of(exc) != 404:
                raise

    def _download_prefix(self, bos: BosPath, target: Path) -> None:
        """Every key is checked before anything is written."""
        prefix = _prefix(bos.key)
        directories = [target]
        plan: dict[Path, CachedObject] = {}
        for item in self._listing(bos.bucket, prefix):
            local = target.joinpath(*_relative_parts(item["Key"], prefix, bos))
            if item["Key"].endswith("/"):
                directories.append(local)  # a directory marker
                continue
            if local in plan:
                raise PathError(f"object keys {plan[local].key!r} and {item['Key']!r} collide")
            plan[local] = CachedObject(
                item["Key"], item["Size"], item["ETag"], whole_seconds_ns(item["LastModified"])
            )
        if len(directories) == 1 and not plan:
            raise FileNotFoundError(f"{bos} not found")
        for directory in directories:
            directory.mkdir(parents=True, exist_ok=True)
        self._download(bos.bucket, [(obj, local) for local, obj in plan.items()])

    def _download(self, bucket: str, plan: list[tuple[CachedObject, Path]]) -> None:
        """Bring each object into the cache unless its ETag is there already, then copy it
        to its local path, checked; an entry that fails the check is fetched once more."""
        self.cache.root.mkdir(parents=True, exist_ok=True)
        pending = [(obj, self.cache.entry(bucket, obj), local) for obj, local in plan]
        for _ in range(CACHE_TRIES):
            self._fill(bucket, [(obj, entry) for obj, entry, _ in pending
                                if not self.cache.fresh(entry, obj)])
            pending = [(obj, entry, local) for obj, entry, local in pending
                       if not self.cache.place(entry, obj, local)]
            if not pending:
                return
        raise StoreError(f"object {pending[0][0].key!r} changed while it was downloaded")

    def _fill(self, bucket: str, missing: list[tuple[CachedObject, Path]]) -> None:
        with self._manager() as manager:
            futures = [
                manager.download(bucket, obj.key, str(entry), subscribers=[_Known(obj)])
                for obj, entry in missing
            ]
            for future in futures:
                future.result()
        for obj, entry in missing:
            self.cache.seal(entry, obj)


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
