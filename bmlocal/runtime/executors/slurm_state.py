"""Slurm's job states, what each means for a bmlocal job, and one squeue call for all jobs.

Without slurmdbd, `squeue` is the only source of a job's state, and it forgets a job
MinJobAge seconds after the end: what a node did is also written into the job directory
by the node itself (slurm_node.py).
"""
import os
import subprocess
from dataclasses import dataclass
from enum import Enum

from bmlocal.runtime.status import Status


class Phase(str, Enum):
    WAITING = "waiting"  # nothing of the job runs yet
    RUNNING = "running"  # the batch script runs, or its nodes are being cleaned up
    ENDED = "ended"


@dataclass(frozen=True)
class Meaning:
    phase: Phase
    status: Status  # the bmlocal status of a job that is in (or ended in) this state
    text: str


STATES: dict[str, Meaning] = {
    "PENDING": Meaning(Phase.WAITING, Status.PENDING, "waiting for resources"),
    "CONFIGURING": Meaning(Phase.WAITING, Status.PENDING, "its nodes are being set up"),
    "REQUEUED": Meaning(Phase.WAITING, Status.PENDING, "requeued"),
    "REQUEUE_HOLD": Meaning(Phase.WAITING, Status.PENDING, "requeued and held"),
    "REQUEUE_FED": Meaning(Phase.WAITING, Status.PENDING, "requeued by the federation"),
    "RESV_DEL_HOLD": Meaning(Phase.WAITING, Status.PENDING, "held: its reservation is gone"),
    "RUNNING": Meaning(Phase.RUNNING, Status.RUNNING, "running"),
    "COMPLETING": Meaning(Phase.RUNNING, Status.RUNNING, "its nodes are finishing"),
    "SUSPENDED": Meaning(Phase.RUNNING, Status.RUNNING, "suspended"),
    "STOPPED": Meaning(Phase.RUNNING, Status.RUNNING, "stopped by Slurm (SIGSTOP)"),
    "SIGNALING": Meaning(Phase.RUNNING, Status.RUNNING, "being signalled"),
    "STAGE_OUT": Meaning(Phase.RUNNING, Status.RUNNING, "staging out"),
    "RESIZING": Meaning(Phase.RUNNING, Status.RUNNING, "being resized"),
    "COMPLETED": Meaning(Phase.ENDED, Status.SUCCESSED, "every step exited with code 0"),
    "FAILED": Meaning(Phase.ENDED, Status.FAILED, "a step exited with a non-zero code"),
    "CANCELLED": Meaning(Phase.ENDED, Status.FAILED, "cancelled"),
    "TIMEOUT": Meaning(Phase.ENDED, Status.FAILED, "it reached its Slurm time limit"),
    "NODE_FAIL": Meaning(Phase.ENDED, Status.FAILED, "a node of the allocation failed"),
    "PREEMPTED": Meaning(Phase.ENDED, Status.FAILED, "preempted by another job"),
    "OUT_OF_MEMORY": Meaning(Phase.ENDED, Status.FAILED, "a node ran out of memory"),
    "BOOT_FAIL": Meaning(Phase.ENDED, Status.FAILED, "its nodes failed to boot"),
    "DEADLINE": Meaning(Phase.ENDED, Status.FAILED, "its deadline passed"),
    "SPECIAL_EXIT": Meaning(Phase.ENDED, Status.FAILED, "it ended with a special exit"),
    "REVOKED": Meaning(Phase.ENDED, Status.FAILED, "revoked by the federation"),
}
UNKNOWN = Meaning(Phase.RUNNING, Status.RUNNING, "a state bmlocal does not know")
FORGOTTEN = Meaning(Phase.ENDED, Status.FAILED, "no longer known to squeue")


def meaning(state: str) -> Meaning:
    """The meaning of a Slurm state ("CANCELLED by 0" and "CANCELLED+" count as CANCELLED)."""
    return STATES.get(state.split()[0].rstrip("+") if state else "", UNKNOWN)


@dataclass(frozen=True)
class QueueEntry:
    job_id: str
    state: str
    reason: str
    nodes: str
    exit_code: str  # the batch script's: a wait status ("768"), or "code:signal"

    @property
    def exit_status(self) -> int | None:
        """The batch script's exit code, None when squeue gives none."""
        code, _, signal = self.exit_code.partition(":")
        if not code.isdigit():
            return None
        return int(code) if signal else int(code) >> 8

    @property
    def meaning(self) -> Meaning:
        return meaning(self.state)

    def describe(self) -> str:
        """`Slurm job 12 PENDING (Resources)`: its state, and Slurm's reason where it gives one."""
        reason = f" ({self.reason})" if self.reason and self.reason != "None" else ""
        return f"Slurm job {self.job_id} {self.state}{reason}"


FIELDS = "JobID:|,State:|,Reason:|,NodeList:|,exit_code:|,Name:|"
# what a job may be in before it ends: the one call a tick asks for these only, so that
# it does not grow with the ended jobs squeue keeps for MinJobAge
LIVE = ",".join(state for state, m in STATES.items() if m.phase != Phase.ENDED)


class QueueError(RuntimeError):
    """squeue did not answer: the controller is down or unreachable."""


def read_queue(env: dict[str, str], name_prefix: str, jobs: list[str] | None = None,
               timeout: float = 10.0) -> dict[str, QueueEntry]:
    """In one squeue call: this user's live jobs whose name starts with `name_prefix`, or,
    given `jobs`, those jobs in any state (the ones squeue still knows)."""
    which = ["--states=all", f"--jobs={','.join(jobs)}"] if jobs else \
        [f"--states={LIVE}", f"--user={os.getuid()}"]
    try:
        done = subprocess.run(["squeue", "--noheader", *which, f"--Format={FIELDS}"],
                              env=env, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QueueError(f"squeue: {exc}") from None
    if done.returncode != 0:
        if jobs and "Invalid job id" in done.stderr:
            return {}  # every one of them forgotten
        raise QueueError(done.stderr.strip() or f"squeue exited with {done.returncode}")
    return parse_queue(done.stdout, name_prefix)


def parse_queue(text: str, name_prefix: str) -> dict[str, QueueEntry]:
    entries = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 6 or not parts[5].startswith(name_prefix):
            continue
        entries[parts[0]] = QueueEntry(parts[0], parts[1], parts[2], parts[3], parts[4])
    return entries
