"""The one interface behind which bytes live: PFS, local bucket directories, S3."""
from pathlib import Path
from typing import Protocol


class Storage(Protocol):
    """Where a job's code, datasets and outputs live for one `*_UrlSource`."""

    def validate(self, path: str) -> None:
        """Raise PathError unless `path` is a valid path of this source."""

    def exists(self, path: str) -> bool:
        """Whether a file, object, directory or prefix is found at a valid `path`."""

    def fetch(self, path: str, dest: Path) -> Path:
        """Copy what is at `path` into the directory `dest`; the local file or directory."""

    def output_dir(self, path: str, scratch: Path) -> Path:
        """The local directory a job writes to so that its files end up at `path`."""

    def sync_out(self, local: Path, path: str, files: list[str]) -> None:
        """Make `path` hold the given files (relative to `local`); raises OSError on failure."""


class StoreError(OSError):
    """The store failed or refused. Messages are built from error codes, never from
    credentials or host paths. `not_uploaded`: the files a sync_out left out of the store."""

    def __init__(self, message: str, not_uploaded: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.not_uploaded = not_uploaded
