"""BOS without a server: each bucket is a directory under `--bos-root`."""
import os
from pathlib import Path

from bmlocal.runtime.storage.base import StoreError
from bmlocal.runtime.storage.paths import BosPath, copy_into, inside, relative_to_root
from bmlocal.runtime.storage.safefs import NotRegular, open_dir, opened, write_file


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
        return copy_into(self.root, source, dest, source.name)

    def output_dir(self, path: str, scratch: Path) -> Path:
        self._local(path)
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch

    def sync_out(self, local: Path, path: str, files: list[str]) -> None:
        """Copy each file from the job's directory, opened without following links (a file
        that is gone or no longer a plain file is skipped), to its place in the bucket."""
        target = relative_to_root(self.root, self._local(path))
        failed, reason = [], ""
        self.root.mkdir(parents=True, exist_ok=True)
        for name in files:
            *dirs, leaf = name.split("/")
            try:
                with opened(local, name) as src:
                    out = open_dir(os.path.realpath(self.root), (*target, *dirs), create=True)
                    try:
                        write_file(out, leaf, src)
                    finally:
                        os.close(out)
            except (FileNotFoundError, NotRegular):
                continue
            except OSError as exc:
                failed.append(name)
                reason = reason or f"cannot write {name} to {path}: {exc.strerror or exc}"
        if failed:
            raise StoreError(reason, tuple(failed))
