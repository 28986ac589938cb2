"""What every executor offers: start, poll, stop, kill and adopt one node of a job."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

Handle = dict[str, Any]  # JSON-serialisable; stored so that a restarted server can adopt
NODE_LOST = -1  # poll's answer for a node whose exit code could not be known
# poll's answer for a node killed while its engine did not answer: it counts as ended
NODE_UNREACHABLE = -2
UNREACHABLE_NOTE = ("its containers could not be reached: the Docker engine did not answer "
                    "(they are removed once it answers again)")
OUT_OF_MEMORY = "killed at its memory limit"


@dataclass(frozen=True)
class JobPaths:
    """The job's directories, as the host or as the job sees them."""
    code: str
    output: str
    logs: str
    train: str | None = None
    eval: str | None = None


@dataclass(frozen=True)
class NodeSpec:
    job_id: int
    rank: int
    argv: list[str]
    env: dict[str, str]
    host_paths: JobPaths
    log_path: Path  # the node's stdout and stderr
    events_path: Path  # the job's event log, for the runtime's own lines
    state_dir: Path  # the executor's own files for this node
    grace: float
    image: str | None = None  # the spec's "/namespace/name:tag"
    repository_id: str | None = None
    cpus: float | None = None
    memory_gb: int | None = None
    gpus: tuple[int, ...] = ()
    devices: tuple[str, ...] = ()  # host device files to pass in (InfiniBand)
    labels: dict[str, str] = field(default_factory=dict)


class Executor(Protocol):
    name: str
    python: str  # how `python` is named where the job runs

    def view(self, host: JobPaths) -> JobPaths:
        """The job's directories as the running job sees them."""

    def base_env(self) -> dict[str, str]:
        """The environment a node starts from, before the job's own variables."""

    def start(self, spec: NodeSpec) -> Handle:
        """Start one node; returns at once."""

    def poll(self, handle: Handle) -> int | None:
        """The node's exit code once nothing of it runs; NODE_LOST if it vanished unrecorded."""

    def exit_note(self, handle: Handle) -> str:
        """What the exit code alone does not say (OUT_OF_MEMORY), or ""."""

    def stop(self, handle: Handle, grace: float) -> None:
        """SIGTERM to every process of the node now, SIGKILL after `grace`; returns at once."""

    def kill(self, handle: Handle) -> None:
        """SIGKILL everything of the node now."""

    def adopt(self, handle: Handle) -> None:
        """Take over a node started by an earlier server process."""

    def release(self, handle: Handle) -> None:
        """Remove what is left of an ended node (containers); its logs stay."""
