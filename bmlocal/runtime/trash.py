"""Directories removed off the request path: moved aside at once (a rename on the same
filesystem), removed by one background thread. What a crash leaves in the trash is removed
at the next start."""
import logging
import os
import queue
import threading
from pathlib import Path

from bmlocal.runtime.storage.staging import remove_tree

log = logging.getLogger("bmlocal.trash")


class Trash:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "trash"
        self._queue: queue.Queue[Path] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def discard(self, path: Path) -> None:
        """Move `path` aside now and remove it soon; nothing happens if it is not there."""
        self.root.mkdir(parents=True, exist_ok=True)
        aside = self.root / f"{path.name}-{os.urandom(4).hex()}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return
        self._queue.put(aside)
        self._ensure_thread()

    def empty(self) -> None:
        """Queue what an earlier run left in the trash."""
        if self.root.is_dir():
            for leftover in self.root.iterdir():
                self._queue.put(leftover)
            self._ensure_thread()

    def wait_empty(self) -> None:
        self._queue.join()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._remove, name="bmlocal-trash",
                                                daemon=True)
                self._thread.start()

    def _remove(self) -> None:
        while True:
            path = self._queue.get()
            try:
                remove_tree(path)
                if path.exists():
                    log.warning("trash: %s could not all be removed", path.name)
            except OSError as exc:
                log.warning("trash: %s: %s", path.name, exc.strerror)
            finally:
                self._queue.task_done()
