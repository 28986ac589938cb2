"""A stop that reaches into a copy under way. The runner sets a job's cancel check for the
thread that stages it; the copy loops call `check()` between files and between chunks, so
a job stopped while it stages gives its slot back within one chunk, not after the copy."""
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

_check: ContextVar[Callable[[], bool] | None] = ContextVar("bmlocal_cancel", default=None)


class Cancelled(Exception):
    """The job was stopped while it was being started."""


@contextmanager
def cancellable(cancelled: Callable[[], bool]) -> Iterator[None]:
    token = _check.set(cancelled)
    try:
        yield
    finally:
        _check.reset(token)


def check() -> None:
    """Cancelled if the job this thread stages was stopped."""
    cancelled = _check.get()
    if cancelled is not None and cancelled():
        raise Cancelled("stopped while its inputs were copied")
