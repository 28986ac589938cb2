"""Which executor runs a job, and which one owns a stored node handle."""
from bmlocal.runtime.executors.base import Executor, Handle
from bmlocal.runtime.spec import JobSpec


class Executors:
    def __init__(self, process: Executor, container: Executor | None) -> None:
        self.process = process
        self.container = container
        self._by_name = {e.name: e for e in (process, container) if e is not None}

    def for_job(self, spec: JobSpec) -> Executor:
        if spec.env_type == "CCR" and self.container is not None:
            return self.container
        return self.process

    def for_handle(self, handle: Handle) -> Executor:
        return self._by_name[handle["kind"]]
