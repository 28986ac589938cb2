"""PFS: a shared file system, here a directory tree under `--pfs-root`."""
from pathlib import Path

from bmlocal.runtime.storage.paths import copy_into, pfs_path


class PfsStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def validate(self, path: str) -> None:
        pfs_path(self.root, path)

    def exists(self, path: str) -> bool:
        return pfs_path(self.root, path).exists()

    def fetch(self, path: str, dest: Path) -> Path:
        source = pfs_path(self.root, path)
        return copy_into(source, dest, source.name or "root")

    def output_dir(self, path: str, scratch: Path) -> Path:
        target = pfs_path(self.root, path)
        target.mkdir(parents=True, exist_ok=True)
        return target

    def sync_out(self, local: Path, path: str, files: list[str]) -> None:
        """Nothing to do: the job writes into the PFS directory itself."""
