"""Which executor runs a job, and which one owns a stored node handle."""
import logging
from typing import Mapping

from bmlocal.runtime.executors.base import Executor, Handle
from bmlocal.runtime.spec import JobSpec

log = logging.getLogger("bmlocal.executors")


class Executors:
    def __init__(self, process: Executor, container: Executor | None,
                 remote: Mapping[str, tuple[Executor, Executor]] | None = None) -> None:
        self.process = process
        self.container = container
        # pool key -> its cluster's executors for DEFAULT and CCR jobs (Slurm pools)
        self.remote = dict(remote or {})
        self._by_name = {e.name: e for pair in self.remote.values() for e in pair}
        self._by_name.update({e.name: e for e in (process, container) if e is not None})

    def for_job(self, spec: JobSpec) -> Executor:
        if spec.pool_key in self.remote:
            return self.remote[spec.pool_key][spec.env_type == "CCR"]
        if spec.env_type == "CCR" and self.container is not None:
            return self.container
        return self.process

    def close(self) -> None:
        """What the executors keep running for the server (the fork server) ends; their
        nodes run on."""
        for executor in self._by_name.values():
            close = getattr(executor, "close", None)
            if close is not None:
                close()

    def for_handle(self, handle: Handle) -> Executor:
        if "pool" in handle:  # a node of a cluster's pool
            pair = self.remote.get(handle["pool"])
            return pair[bool(handle.get("ccr"))] if pair else Unavailable(handle["kind"])
        return self._by_name.get(handle["kind"]) or Unavailable(handle["kind"])


class Unavailable:
    """The executor of nodes started by a server that had it (a Docker engine that does not
    answer now): their end cannot be known, so they count as running until it is back."""

    python = "python"

    def __init__(self, name: str) -> None:
        self.name = name

    def poll(self, handle: Handle) -> int | None:
        return None

    def exit_note(self, handle: Handle) -> str:
        return ""

    def trouble(self, handle: Handle) -> str:
        return (f"no {self.name} executor answered when the server started: the state of "
                "the job's nodes is unknown until a server starts with one")

    def adopt(self, handle: Handle) -> None:
        log.warning("node %s cannot be watched: no %s executor answers", handle, self.name)

    def stop(self, handle: Handle, grace: float) -> None:
        self.adopt(handle)

    def kill(self, handle: Handle) -> None:
        self.adopt(handle)

    def release(self, handle: Handle) -> None:
        """Nothing can be removed without the executor."""
