"""Parsing of PFS and BOS paths, and the one place that keeps paths inside their root."""
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from bmlocal.runtime.storage.safefs import NotRegular, copy_tree, open_dir, opened, write_file

NAME_MAX = 255  # bytes in one file name, on every Linux file system bmlocal runs on
PATH_MAX = 4096  # bytes in a whole host path, with its terminating NUL
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")


class PathError(ValueError):
    """A path that is not a valid path of its source, or that leaves its root."""


def clean_parts(path: str) -> tuple[str, ...]:
    """The components of a '/'-separated path; refuses '..', NUL, backslashes and a
    component longer than a file name may be (NAME_MAX bytes)."""
    if "\x00" in path or "\\" in path:
        raise PathError("path holds a forbidden character")
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if ".." in parts:
        raise PathError("path may not contain '..'")
    for part in parts:
        if len(part.encode("utf-8", errors="surrogatepass")) > NAME_MAX:
            raise PathError(f"a path component is longer than {NAME_MAX} bytes")
    return parts


def inside(root: Path, relative: tuple[str, ...]) -> Path:
    """`root`/`relative`, refusing it if a symbolic link on the way points out of `root`
    or if the whole host path would be longer than PATH_MAX."""
    real_root = Path(os.path.realpath(root))
    joined = real_root.joinpath(*relative)
    if len(os.fsencode(joined)) >= PATH_MAX:
        raise PathError(f"path is too long (the host allows {PATH_MAX} bytes in all)")
    target = Path(os.path.realpath(joined))
    if target != real_root and real_root not in target.parents:
        raise PathError("path leaves its root through a symbolic link")
    return target


def relative_to_root(root: Path, target: Path) -> tuple[str, ...]:
    """The components of a path returned by `inside`, below its root."""
    return target.relative_to(os.path.realpath(root)).parts


def copy_into(root: Path, source: Path, dest: Path, name: str) -> Path:
    """Copy a file or a directory tree found by `inside(root, ...)` to dest/name, links
    kept as links and special files left out; no link is followed below `root`, so a file
    swapped for a link while it is copied is not read through it."""
    real_root = os.path.realpath(root)
    parts = relative_to_root(root, source)
    if not parts:
        raise PathError("the root itself cannot be copied")
    target = dest / name
    out = open_dir(dest)
    try:
        if _is_dir(real_root, parts):
            os.mkdir(name, 0o755, dir_fd=out)
            inner = open_dir(dest, (name,))
            try:
                copy_tree(real_root, parts, inner, links=True)
            finally:
                os.close(inner)
        else:
            with opened(real_root, "/".join(parts)) as fd:
                write_file(out, name, fd)
    except NotRegular as exc:
        raise PathError(f"'{parts[-1]}' is not a plain file or directory") from exc
    finally:
        os.close(out)
    return target


def _is_dir(root: str, parts: tuple[str, ...]) -> bool:
    """Whether root/parts is a directory, no link followed below `root`."""
    try:
        os.close(open_dir(root, parts))
    except NotADirectoryError:
        return False
    return True


def pfs_path(root: Path, path: str) -> Path:
    """The host path of a PFS path such as `/team/run1/out`; never the PFS root itself,
    which every project shares."""
    if not path.startswith("/"):
        raise PathError("a PFS path is absolute, like /team/data")
    parts = clean_parts(path)
    if not parts:
        raise PathError("the PFS root '/' itself is not a job path; name a directory in it")
    return inside(root, parts)


def hide_host_paths(text: str, shown: dict[Path, str]) -> str:
    """`text` with each host directory in `shown` replaced by what the user knows it as
    (longest first, so that a root inside another is replaced by its own name)."""
    for host, name in sorted(shown.items(), key=lambda item: -len(str(item[0]))):
        for form in {str(host), os.path.realpath(host)}:
            text = text.replace(form.rstrip("/") + "/", name.rstrip("/") + "/" if name else "")
            text = text.replace(form, name)
    return text


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
