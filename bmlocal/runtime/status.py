"""The one status enum, its terminal set and the table of allowed transitions."""
from enum import Enum


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
