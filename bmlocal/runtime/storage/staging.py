"""Bringing a job's code and datasets in (read-only where asked), and removing a job's
files."""
import os
import shutil
import tempfile
from pathlib import Path

from bmlocal.runtime.storage.archive import is_archive, unpack
from bmlocal.runtime.storage.base import Storage


def stage_in(storage: Storage, path: str, dest: Path, read_only: bool = False) -> None:
    """Fill the directory `dest` with what is at `path`: a directory's contents, a single
    file, or an archive unpacked."""
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
    for directory, _, files in os.walk(root, topdown=False):
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & 0o555)
        os.chmod(directory, 0o555)


def make_writable(root: Path) -> None:
    """Undo make_read_only so that the tree can be removed."""
    if not root.exists():
        return
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755)
        for name in files:
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)


def remove_tree(root: Path) -> None:
    make_writable(root)
    shutil.rmtree(root, ignore_errors=True)

