"""How the parts that free resources tell the scheduler's loop to look again, made before
either of them so that neither needs the other."""
import threading

from bmlocal.runtime.resources import Allocator


class Wakeup:
    """What the next pass must do: admit waiting jobs, watch running ones, or both."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.admit_needed = True
        self.watch_needed = True

    def wake(self, admit: bool = True, watch: bool = True) -> None:
        if admit:
            self.admit_needed = True
        if watch:
            self.watch_needed = True
        self._event.set()

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
