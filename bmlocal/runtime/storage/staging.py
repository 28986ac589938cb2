"""Bringing a job's code and datasets in (read-only where asked), and removing a job's
files. Every failure of staging is one StagingError, whose message a user may read: no
host path, no traceback."""
import os
import shutil
import stat
import tempfile
from pathlib import Path

from bmlocal.runtime.cancel import Cancelled
from bmlocal.runtime.storage.archive import ArchiveError, is_archive, unpack
from bmlocal.runtime.storage.base import Storage, StoreError
from bmlocal.runtime.storage.paths import PathError, hide_host_paths


class StagingError(Exception):
    """The job's inputs could not be staged; the job fails with this message."""


def stage_in(storage: Storage, path: str, dest: Path, read_only: bool = False) -> None:
    """Fill the directory `dest` with what is at `path`: a directory's contents, a single
    file, or an archive unpacked. StagingError for any failure."""
    try:
        _stage(storage, path, dest, read_only)
    except Cancelled:  # a stop, not a failure
        raise
    except (ArchiveError, PathError, StoreError) as exc:
        raise StagingError(public(exc, dest, path)) from None
    except OSError as exc:
        raise StagingError(public(exc, dest, path)) from None
    except Exception as exc:  # a library's own error: still this job's failure, not the server's
        raise StagingError(f"{type(exc).__name__}: {public(exc, dest, path)}") from None


def public(exc: BaseException, dest: Path, path: str) -> str:
    """The message of `exc` as the job's owner may see it: host directories replaced by
    the job's own names for them."""
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, StoreError):
        name = exc.filename if isinstance(exc.filename, str) else ""
        text = f"{exc.strerror}: {name}" if name else exc.strerror
    else:
        text = str(exc) or type(exc).__name__
    return hide_host_paths(text, {dest: dest.name, dest.parent: ""})


def _stage(storage: Storage, path: str, dest: Path, read_only: bool) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
        fetched = storage.fetch(path, Path(tmp))
        if is_archive(fetched):
            unpack(fetched, dest)
        elif fetched.is_dir():
            for child in fetched.iterdir():
                os.replace(child, dest / child.name)
        else:
            os.replace(fetched, dest / fetched.name)
    if read_only:
        make_read_only(dest)


def make_read_only(root: Path) -> None:
    """Files 0444/0555 and directories 0555; links left alone. The tree was just staged by
    the server and no job runs in it yet, so nothing can swap a name meanwhile."""
    for _, _, files, dir_fd in os.fwalk(root, topdown=False):
        for name in files:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISREG(st.st_mode):
                os.chmod(name, st.st_mode & 0o555, dir_fd=dir_fd)
        os.chmod(dir_fd, 0o555)


def make_writable(root: Path) -> None:
    """Undo make_read_only so that the tree can be removed: only directories need it, and
    each is changed through its own descriptor, so a link a job left is never followed."""
    if not root.exists():
        return
    for _, _, _, dir_fd in os.fwalk(root):
        os.chmod(dir_fd, 0o755)


def remove_tree(root: Path) -> None:
    make_writable(root)
    shutil.rmtree(root, ignore_errors=True)
