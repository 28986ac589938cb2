"""PFS: a shared file system, here a directory tree under `--pfs-root`. Jobs write into
their PFS output directories themselves, so nothing below the root is trusted: the server
walks it without following links."""
import os
from pathlib import Path

from bmlocal.runtime.storage.paths import PathError, copy_into, pfs_path, relative_to_root
from bmlocal.runtime.storage.safefs import KIND_TEXT, NotRegular, copy_tree, open_dir


class PfsStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def validate(self, path: str) -> None:
        pfs_path(self.root, path)

    def exists(self, path: str) -> bool:
        return pfs_path(self.root, path).exists()

    def fetch(self, path: str, dest: Path) -> Path:
        source = pfs_path(self.root, path)
        return copy_into(self.root, source, dest, source.name)

    def output_dir(self, path: str, scratch: Path) -> Path:
        target = pfs_path(self.root, path)
        os.close(self._open(target, ()))
        return target

    def sync_out(self, local: Path, path: str, files: list[str]) -> None:
        """Nothing to do: the job writes into the PFS directory itself."""

    def copy_logs(self, logs: Path, path: str) -> list[str]:
        """Copy the plain files of a job's log directory to `path`/logs; what was left out
        (links, special files), one line each."""
        target = pfs_path(self.root, path)
        out = self._open(target, ("logs",))
        try:
            skipped = copy_tree(logs, (), out, links=False)
        finally:
            os.close(out)
        return [f"{e.path} in the log directory is {KIND_TEXT[e.kind]}, not followed: not "
                "copied to the output path" for e in skipped]

    def _open(self, target: Path, below: tuple[str, ...]) -> int:
        """target/below made and opened, no link followed below the root (a job may have
        planted one since the path was checked)."""
        parts = relative_to_root(self.root, target) + below
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            return open_dir(os.path.realpath(self.root), parts, create=True)
        except NotRegular:
            raise PathError("a symbolic link was planted in the output path") from None
        except NotADirectoryError:
            raise PathError("a file stands where the output path needs a directory") from None
