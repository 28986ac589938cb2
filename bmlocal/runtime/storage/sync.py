"""Streaming a job's output directory to its store while the job runs, and once more at the end."""

import threading
import time
from collections.abc import Callable
from pathlib import Path

from bmlocal import metrics
from bmlocal.runtime.storage.base import Storage
from bmlocal.runtime.storage.s3client import StoreError
from bmlocal.runtime.storage.safefs import KIND_TEXT, scan

Signature = tuple[int, int]  # (size, mtime_ns)


class OutputSync:
    """Every `interval` seconds, uploads the regular files under `local_dir` that are new
    or changed since their last upload to `path`. Nothing is ever deleted, locally or in
    the store. A failing store is retried with exponential backoff, capped at
    max(`max_backoff`, `interval`)."""

    def __init__(
        self,
        storage: Storage,
        local_dir: Path,
        path: str,
        interval: float,
        log: Callable[[str], None],
        max_backoff: float = 60.0,
    ) -> None:
        self.storage = storage
        self.local_dir = local_dir
        self.path = path
        self.interval = interval
        self.log = log
        self.max_backoff = max(max_backoff, interval)
        self._uploaded: dict[str, Signature] = {}
        self._pending: tuple[str, ...] = ()
        self._refused: set[str] = set()
        self._total = 0
        self._error = ""
        self._failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"output sync {path}", daemon=True)

    @property
    def pending_files(self) -> tuple[str, ...]:
        """Files (relative to local_dir) found new or changed but not uploaded at the last try."""
        return self._pending

    def start(self) -> None:
        self._thread.start()

    def finish(self, timeout: float) -> str | None:
        """Stop the loop and sync whatever changed, retrying with backoff for up to `timeout`
        seconds (an attempt under way at the deadline is not interrupted). None once
        everything is in the store, else a short message: what is missing and why."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(max(deadline - time.monotonic(), 0.0))
        if self._thread.is_alive():
            return f"output files not all uploaded: an upload to {self.path} is still running"
        self._failures = 0
        while not self._sync():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self._summary()
            time.sleep(min(self._backoff(), remaining))
        return None

    def _run(self) -> None:
        delay = self.interval
        while not self._stop.wait(delay):
            delay = self.interval if self._sync() else self._backoff()
            if self._failures:
                self.log(f"output sync to {self.path}: {self._summary()}; retrying in {delay:g} s")

    def _backoff(self) -> float:
        return min(self.interval * 2 ** (self._failures - 1), self.max_backoff)

    def _sync(self) -> bool:
        """One pass: upload what changed. True when nothing is left pending."""
        current = self._scan()
        changed = [
            name for name, signature in current.items() if self._uploaded.get(name) != signature
        ]
        started = time.monotonic()
        failed = self._upload(changed) if changed else set()
        if changed:  # for the metrics: the bytes that reached the store, and the time taken
            metrics.synced(sum(current[n][0] for n in changed if n not in failed),
                           time.monotonic() - started)
        kept = {name: sig for name, sig in self._uploaded.items() if name in current}
        # The signature taken before the upload: a file written during it differs next pass.
        self._uploaded = kept | {name: current[name] for name in changed if name not in failed}
        self._total = len(current)
        self._pending = tuple(sorted(failed))
        if failed:
            self._failures += 1
        elif self._failures:
            self.log(f"output sync to {self.path} caught up")
            self._failures = 0
        return not failed

    def _upload(self, names: list[str]) -> set[str]:
        """The names that did not reach the store."""
        try:
            self.storage.sync_out(self.local_dir, self.path, names)
        except StoreError as exc:
            self._error = str(exc)
            return set(exc.not_uploaded)
        except Exception as exc:  # any backend failure must leave the loop running
            self._error = str(exc) or type(exc).__name__
            return set(names)
        return set()

    def _scan(self) -> dict[str, Signature]:
        """The plain files under local_dir, by relative name, with one lstat each. Nothing
        the job planted is followed: links and special files are left out, each said once
        in the job's event log."""
        found = {}
        for entry in scan(self.local_dir):
            if entry.kind == "file":
                found[entry.path] = (entry.size, entry.mtime_ns)
            elif entry.kind != "dir" and entry.path not in self._refused:
                self._refused.add(entry.path)
                self.log(f"output sync to {self.path}: {entry.path} is "
                         f"{KIND_TEXT[entry.kind]}, not followed: not delivered")
        return dict(sorted(found.items()))

    def _summary(self) -> str:
        return f"{len(self._pending)} of {self._total} output files not uploaded: {self._error}"
