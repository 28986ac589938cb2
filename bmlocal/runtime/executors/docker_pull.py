"""Image pulls: one at a time per image (jobs that need the same image wait for the same
pull), none holding the start of a job that needs another image, and each job waiting at
most a bounded time for its image."""
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitTimeout
from typing import Callable

PULL_TIMEOUT_SECONDS = 1800.0


class PullTimeout(RuntimeError):
    """The image did not arrive in time."""


class Pulls:
    def __init__(self, timeout: float = PULL_TIMEOUT_SECONDS) -> None:
        self.timeout = timeout
        self._running: dict[str, Future] = {}
        self._lock = threading.Lock()

    def wait(self, reference: str, pull: Callable[[], None]) -> None:
        """Run `pull` for `reference` unless a pull of it is under way already, and wait
        for that one; PullTimeout after `timeout` seconds (the pull itself goes on in the
        background, and a later job waits for it rather than starting another)."""
        with self._lock:
            future = self._running.get(reference)
            if future is None:
                future = Future()
                self._running[reference] = future
                threading.Thread(target=self._run, args=(reference, pull, future),
                                 name=f"pull-{reference}", daemon=True).start()
        try:
            future.result(timeout=self.timeout)
        except WaitTimeout:
            raise PullTimeout(f"image {reference} did not arrive within {self.timeout:g} s "
                              "(its pull goes on)") from None

    def _run(self, reference: str, pull: Callable[[], None], future: Future) -> None:
        try:
            pull()
        except BaseException as exc:  # handed to every job that waits on this pull
            future.set_exception(exc)
        else:
            future.set_result(None)
        finally:
            with self._lock:
                self._running.pop(reference, None)
