"""BOS without a server: each bucket is a directory under `--bos-root`."""
import os
import shutil
from pathlib import Path

from bmlocal.runtime.storage.paths import BosPath, copy_into, inside


class LocalBosStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _local(self, path: str) -> Path:
        bos = BosPath.parse(path)
        return inside(self.root, (bos.bucket, *bos.parts))

    def validate(self, path: str) -> None:
        self._local(path)

    def exists(self, path: str) -> bool:
        return self._local(path).exists()

    def fetch(self, path: str, dest: Path) -> Path:
        source = self._local(path)
        return copy_into(source, dest, source.name)

    def output_dir(self, path: str, scratch: Path) -> Path:
        self._local(path)
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch

    def sync_out(self, local: Path, path: str, files: list[str]) -> None:
        target = self._local(path)
        for name in files:
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            partial = destination.with_name(destination.name + ".bmlocal-partial")
            shutil.copy2(local / name, partial)
            os.replace(partial, destination)
