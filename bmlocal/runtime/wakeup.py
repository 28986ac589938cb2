"""How the parts that free resources tell the scheduler's loop to look again, made before
either of them so that neither needs the other."""
import threading

from bmlocal.runtime.resources import Allocator


class Wakeup:
    """What the next pass must do: admit waiting jobs, watch running ones (all, or those
    named), or both."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.admit_needed = True
        self.watch_needed = True
        self._jobs: set[int] = set()

    def wake(self, admit: bool = True, watch: bool = True) -> None:
        if admit:
            self.admit_needed = True
        if watch:
            self.watch_needed = True
        self._event.set()

    def watch_job(self, job_id: int | None, admit: bool = False) -> None:
        """Wake the loop to watch one job (a node of it ended, a worker let go of it);
        every running job where the caller cannot tell which (None)."""
        if job_id is None:
            self.wake(admit)
            return
        with self._lock:
            self._jobs.add(job_id)
        self.wake(admit, watch=False)

    def jobs_to_watch(self) -> set[int]:
        """The jobs named since the last call."""
        with self._lock:
            jobs, self._jobs = self._jobs, set()
        return jobs

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        self._event.clear()


class Slots:
    """The allocator's release, followed by a wake-up so that waiting jobs may take them."""

    def __init__(self, allocator: Allocator, wakeup: Wakeup) -> None:
        self.allocator = allocator
        self.wakeup = wakeup

    def release(self, job_id: int) -> None:
        self.allocator.release(job_id)
        self.wakeup.wake(watch=False)
