"""Parsing of PFS and BOS paths, and the one place that keeps paths inside their root."""
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class PathError(ValueError):
    """A path that is not a valid path of its source, or that leaves its root."""


def clean_parts(path: str) -> tuple[str, ...]:
    """The components of a '/'-separated path; refuses '..', NUL and backslashes."""
    if "\x00" in path or "\\" in path:
        raise PathError("path holds a forbidden character")
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise PathError("path may not contain '..'")
    return parts


def inside(root: Path, relative: tuple[str, ...]) -> Path:
    """`root`/`relative`, refusing it if a symbolic link on the way points out of `root`."""
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root.joinpath(*relative)))
    if target != real_root and real_root not in target.parents:
        raise PathError("path leaves its root through a symbolic link")
    return target


def copy_into(source: Path, dest: Path, name: str) -> Path:
    """Copy a file or a directory tree (links kept as links) to dest/name."""
    target = dest / name
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target)
    return target


def pfs_path(root: Path, path: str) -> Path:
    """The host path of a PFS path such as `/team/run1/out`."""
    if not path.startswith("/"):
        raise PathError("a PFS path is absolute, like /team/data")
    return inside(root, clean_parts(path))


@dataclass(frozen=True)
class BosPath:
    bucket: str
    key: str  # "" for the bucket itself; no leading '/'

    @classmethod
    def parse(cls, path: str) -> "BosPath":
        """`/bucket/key...` or `bos://bucket/key...`."""
        rest = path[len("bos://"):] if path.startswith("bos://") else None
        if rest is None:
            if not path.startswith("/"):
                raise PathError("a BOS path looks like /bucket/key or bos://bucket/key")
            rest = path[1:]
        bucket, _, key = rest.partition("/")
        if not BUCKET_NAME.match(bucket):
            raise PathError(f"'{bucket}' is not a valid bucket name")
        parts = clean_parts(key)
        joined = "/".join(parts)
        if key.endswith("/") and joined:
            joined += "/"
        return cls(bucket, joined)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(PurePosixPath(self.key).parts) if self.key else ()

    def __str__(self) -> str:
        return f"bos://{self.bucket}/{self.key}"
