"""Where a job's files live under the data directory."""
from dataclasses import dataclass
from pathlib import Path

from bmlocal.runtime.events import append_event


@dataclass(frozen=True)
class JobDir:
    root: Path

    @classmethod
    def of(cls, data_dir: Path, job_id: int) -> "JobDir":
        return cls(data_dir / "jobs" / str(job_id))

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def scratch_output(self) -> Path:
        """Where a job writes outputs that are synced to a bucket."""
        return self.root / "output"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def node_state(self, rank: int) -> Path:
        return self.root / "nodes" / str(rank)

    def node_log(self, rank: int) -> Path:
        return self.logs / f"node-{rank}.log"

    @property
    def events(self) -> Path:
        """The runtime's own lines about this job: staging, signals, how it ended."""
        return self.logs / "job.log"

    def event(self, line: str) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        append_event(self.events, line)
