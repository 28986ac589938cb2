"""The one status enum, its terminal set and the table of allowed transitions; the phases
within a status and which status each belongs to."""
from enum import Enum, StrEnum


class Status(str, Enum):
    UNTRAIN = "UNTRAIN"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESSED = "SUCCESSED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"

    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.SUCCESSED, Status.FAILED, Status.STOPPED})

ALLOWED: dict[Status, frozenset[Status]] = {
    Status.UNTRAIN: frozenset({Status.PENDING}),
    Status.PENDING: frozenset({Status.RUNNING, Status.STOPPED, Status.FAILED}),
    Status.RUNNING: frozenset({Status.SUCCESSED, Status.FAILED, Status.STOPPED}),
    Status.SUCCESSED: frozenset(),
    Status.FAILED: frozenset(),
    Status.STOPPED: frozenset(),
}


def can_move(old: Status, new: Status) -> bool:
    return new in ALLOWED[old]


class JobPhase(StrEnum):
    """Where a job is within its status (the store keeps it beside the status)."""
    QUEUED = "queued"  # PENDING: waits for its resources
    STARTING = "starting"  # PENDING: granted; a worker stages and starts it
    SUBMITTED = "submitted"  # PENDING: in a cluster's own queue (Slurm)
    RUNNING = "running"


# The phases a job may be given in each status. An ended job keeps the phase it had.
PHASES: dict[Status, frozenset[JobPhase]] = {
    Status.PENDING: frozenset({JobPhase.QUEUED, JobPhase.STARTING, JobPhase.SUBMITTED}),
    Status.RUNNING: frozenset({JobPhase.RUNNING}),
}


def can_be_in(status: Status, phase: JobPhase) -> bool:
    return phase in PHASES.get(status, frozenset())
