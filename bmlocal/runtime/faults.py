"""Errors that reach a job's reason or event log, in words without host paths, and the jobs
whose step failed, tried again after a growing pause."""
import logging
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

import requests

from bmlocal import metrics

log = logging.getLogger("bmlocal.faults")
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 30.0


def describe(exc: BaseException, roots: Sequence[str] = ()) -> str:
    """What went wrong, for a user: a host path under one of `roots` is shown relative to
    it, any other is left out."""
    if isinstance(exc, requests.ConnectionError):
        return "the engine did not answer (connection failed)"
    if isinstance(exc, requests.Timeout):
        return "the engine did not answer in time"
    explanation = getattr(exc, "explanation", None)  # the Docker engine's own words
    if isinstance(explanation, str) and explanation:
        return scrub(explanation, roots)
    if isinstance(exc, OSError) and exc.strerror:
        where = relative(str(exc.filename), roots) if exc.filename else None
        return f"{exc.strerror}: {where}" if where else exc.strerror
    return scrub(str(exc), roots) or type(exc).__name__


def host_roots(data_dir: Path, storages: Mapping[str, Any]) -> list[str]:
    """Directories of this machine that a reason may not show: the data directory and the
    roots of the stores that live on this machine."""
    return [str(data_dir)] + [str(s.root) for s in storages.values()
                              if isinstance(getattr(s, "root", None), Path)]


def relative(path: str, roots: Sequence[str]) -> str | None:
    for root in sorted(roots, key=len, reverse=True):
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return "/" + path[len(root):].lstrip("/")
    return None


def scrub(text: str, roots: Sequence[str]) -> str:
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(root.rstrip("/"), "")
    return text


class EventLog(Protocol):
    def event(self, job: object, line: str) -> None: ...


class Troubles:
    """Jobs whose last step failed. Each new message goes to the job's event log once (not
    every tick), and the job is due again after a pause that doubles up to a maximum."""

    def __init__(self, events: EventLog, roots: Sequence[str] = ()) -> None:
        self.events = events
        self.roots = roots
        # job -> (when due, pause, what failed, message)
        self._state: dict[int, tuple[float, float, str, str]] = {}
        self._lock = threading.Lock()

    def due(self, job_id: int) -> bool:
        with self._lock:
            state = self._state.get(job_id)
        return state is None or time.monotonic() >= state[0]

    def failed(self, job: object, doing: str, exc: BaseException) -> None:
        job_id: int = getattr(job, "id")
        message = f"{doing} failed: {describe(exc, self.roots)}"
        metrics.executor_failed(doing)
        with self._lock:
            _, pause, _, last = self._state.get(job_id, (0.0, 0.0, "", ""))
            pause = min(max(pause * 2, RETRY_FIRST_SECONDS), RETRY_MAX_SECONDS)
            self._state[job_id] = (time.monotonic() + pause, pause, doing, message)
        if message == last:
            return
        # a traceback only for the unexpected: an engine or a disk in trouble is no bug
        log.warning("job %s: %s", job_id, message,
                    exc_info=None if isinstance(exc, OSError) else exc)
        try:
            self.events.event(job, f"{message}; tried again")
        except OSError as err:  # the event log's disk may be the trouble
            log.warning("job %s: event log not written: %s", job_id, err.strerror)

    def cleared(self, job_id: int, doing: str | None = None) -> None:
        """`doing` worked: the job's trouble is over if that is what had failed (None:
        whatever it was)."""
        with self._lock:
            if doing is None or self._state.get(job_id, (0, 0, doing))[2] == doing:
                self._state.pop(job_id, None)
