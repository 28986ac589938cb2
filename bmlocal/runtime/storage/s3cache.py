"""The download cache of S3 objects, shared by every job and project of the server.

An entry holds one ETag's bytes of one key, with a sha256 of them written beside it when it
was downloaded. Jobs never get the entry itself (a hard link would let a job change it for
every later job): each gets its own copy, and the copy is checked against the sha256 as it
is made, so an entry changed by anything since its download is dropped and fetched again."""

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bmlocal.runtime.cancel import check as check_cancel

CHUNK = 1 << 20
SIDECAR = ".sha256"


@dataclass(frozen=True)
class CachedObject:
    key: str
    size: int
    etag: str
    mtime_ns: int  # the cache entry's mtime: whole seconds of LastModified


def whole_seconds_ns(moment: datetime) -> int:
    # HEAD gives whole seconds and LIST milliseconds; both must mark a cache entry alike.
    return int(moment.timestamp()) * 1_000_000_000


def digest(*values: str) -> str:
    return hashlib.sha256("\x00".join(values).encode()).hexdigest()


class DownloadCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(self, bucket: str, obj: CachedObject) -> Path:
        # Hashed names: no key, however hostile, becomes a path in the cache.
        return self.root / f"{digest(bucket, obj.key)}-{digest(obj.etag)[:16]}"

    def fresh(self, entry: Path, obj: CachedObject) -> bool:
        """Whether the entry looks complete: its size, mtime and checksum are there (its
        content is checked when it is copied out, by `place`)."""
        try:
            st = entry.stat()
        except FileNotFoundError:
            return False
        return (st.st_size == obj.size and st.st_mtime_ns == obj.mtime_ns
                and _sidecar(entry).exists())

    def seal(self, entry: Path, obj: CachedObject) -> None:
        """A download just landed at `entry`: mark it, record its checksum, and drop the
        older ETags of its key."""
        os.utime(entry, ns=(obj.mtime_ns, obj.mtime_ns))
        sha = hashlib.sha256()
        with open(entry, "rb") as f:
            while chunk := f.read(CHUNK):
                sha.update(chunk)
        partial = entry.with_name(f"{entry.name}.{os.getpid()}{SIDECAR}-partial")
        partial.write_text(sha.hexdigest())
        os.replace(partial, _sidecar(entry))
        self._drop_stale(entry)

    def place(self, entry: Path, obj: CachedObject, local: Path) -> bool:
        """Copy the entry to `local`, checking its bytes against the recorded checksum on
        the way. False (nothing left at `local`, the entry dropped) when they differ."""
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            expected = _sidecar(entry).read_text().strip()
            sha = hashlib.sha256()
            with open(entry, "rb") as src, open(local, "wb") as dst:
                while chunk := src.read(CHUNK):
                    sha.update(chunk)
                    dst.write(chunk)
                    check_cancel()  # a job stopped while it stages gives its slot back now
        except FileNotFoundError:  # dropped by another staging meanwhile
            expected, sha = "", hashlib.sha256(b"missing")
        if sha.hexdigest() != expected:
            local.unlink(missing_ok=True)
            self.drop(entry)
            return False
        os.utime(local, ns=(obj.mtime_ns, obj.mtime_ns))
        return True

    @staticmethod
    def drop(entry: Path) -> None:
        entry.unlink(missing_ok=True)
        _sidecar(entry).unlink(missing_ok=True)

    def _drop_stale(self, entry: Path) -> None:
        """Remove the entries of the same key with an older ETag, but not the temporary
        files (other names) of downloads still running."""
        key_digest = entry.name.partition("-")[0]
        for old in entry.parent.glob(f"{key_digest}-*"):
            if old.name != entry.name and len(old.name) == len(entry.name):
                self.drop(old)


def _sidecar(entry: Path) -> Path:
    return entry.with_name(entry.name + SIDECAR)
