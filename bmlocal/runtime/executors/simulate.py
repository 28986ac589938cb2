"""The simulate executor: nothing runs, yet each job goes through the real validation, store,
scheduler, pools, GPUs and quotas. How a job ends is set by the `[simulate]` rules (see
simulate_rules.py), by rules added through the admin API, or by hand (advance, hold).

A node's plan is in its handle (exit code, when it ends, or held), so a restarted server
adopts simulated jobs like real ones. A rule's PENDING time is spent inside `start`, on the
scheduler's worker (the job is PENDING, its resources granted); it ends early when the job
is stopped or released.
"""
import threading
import time
from pathlib import Path
from typing import Any, Iterable

from bmlocal.runtime.events import append_event
from bmlocal.runtime.executors.base import Handle, JobPaths, NodeSpec
from bmlocal.runtime.executors.simulate_rules import (DEFAULT_RULE, Rule, SimulateConfig,
                                                      fill)
from bmlocal.runtime.pools import Pool
from bmlocal.runtime.status import Status
from bmlocal.runtime.store import Job, Store

__all__ = ["SimulateConfig", "SimulateExecutor", "simulated_pools"]
WATCH_SECONDS = 0.02  # how often a PENDING wait looks whether the job was stopped
STOP_CODE, KILL_CODE = 143, 137


class SimulateExecutor:
    name = "simulate"
    python = "python"

    def __init__(self, store: Store, config: SimulateConfig | None = None) -> None:
        self.store = store
        self.rules = list((config or SimulateConfig()).rules)
        self._added: list[Rule] = []  # through the admin API, before the configured ones
        self._hold = False
        self._draining = False  # a reset is under way: nothing waits
        self._waits: dict[int, threading.Event] = {}  # job -> its PENDING wait's release
        self._ended: dict[tuple[int, int], int] = {}  # (job, rank) -> code, stopped by hand
        self._lock = threading.Lock()

    # --- controls (the admin API) ----------------------------------------------------------

    def add_rule(self, rule: Rule) -> None:
        with self._lock:
            self._added.insert(0, rule)

    def hold(self, on: bool = True) -> None:
        """Jobs started from now on stay RUNNING until advanced (or until reset)."""
        self._hold = on

    @property
    def holding(self) -> bool:
        return self._hold

    def release_pending(self, job_id: int) -> bool:
        """End a job's simulated PENDING time now; False when it is not in one."""
        with self._lock:
            wait = self._waits.get(job_id)
        if wait is None:
            return False
        wait.set()
        return True

    def waiting(self, job_id: int) -> bool:
        with self._lock:
            return job_id in self._waits

    def begin_reset(self) -> None:
        """Every PENDING wait ends now, and none begins until `end_reset`."""
        self._draining = True
        with self._lock:
            for wait in self._waits.values():
                wait.set()

    def end_reset(self) -> None:
        with self._lock:
            self._added.clear()
            self._ended.clear()
        self._hold = False
        self._draining = False

    # --- the executor protocol -------------------------------------------------------------

    def view(self, host: JobPaths) -> JobPaths:
        return host

    def base_env(self) -> dict[str, str]:
        return {}

    def start(self, spec: NodeSpec) -> Handle:
        job = self.store.get(spec.job_id)
        if job is None:  # deleted (a reset) while it was being started
            return self._handle(spec, None, None, 0, "", True)
        rule, values = self.choose(job, spec.rank)
        if spec.rank == 0 and rule.pending_seconds > 0:
            self._pending(job.id, rule.pending_seconds)
        self._write(spec, job, rule, values)
        held = self._hold or rule.hold
        ends = None if held else time.time() + rule.running_seconds
        reason = fill(rule.status_reason, values) if rule.status_reason else ""
        return self._handle(spec, ends, rule.status, rule.code, reason, held)

    def choose(self, job: Job, rank: int) -> tuple[Rule, dict[str, str]]:
        """The first rule that matches the job, and the values its outputs may name."""
        values = {"job_id": str(job.id), "name": job.name, "project": job.project,
                  "rank": str(rank)}
        with self._lock:
            rules = self._added + self.rules
        for rule in rules:
            groups = rule.match(job.name, job.project, job.spec.start_cmd)
            if groups is not None:
                return rule, {**groups, **values}
        return DEFAULT_RULE, values

    def _pending(self, job_id: int, seconds: float) -> None:
        wait = threading.Event()
        with self._lock:
            self._waits[job_id] = wait
        try:
            deadline = time.monotonic() + seconds
            while not self._draining and not wait.is_set():
                left = deadline - time.monotonic()
                if left <= 0 or wait.wait(min(left, WATCH_SECONDS)):
                    break
                current = self.store.get(job_id)
                if current is None or current.status != Status.PENDING or current.end_status:
                    break  # stopped (or gone): the runner abandons the start
        finally:
            with self._lock:
                self._waits.pop(job_id, None)

    @staticmethod
    def _write(spec: NodeSpec, job: Job, rule: Rule, values: dict[str, str]) -> None:
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log_path, "a", encoding="utf-8") as log:
            log.writelines(fill(line, values) + "\n" for line in rule.log_lines)
        if spec.rank != 0:
            return
        plan = "held RUNNING until advanced" if rule.hold else \
            f"{rule.status} (exit code {rule.code}) after {rule.running_seconds:g} s"
        append_event(spec.events_path, f"simulated: nothing runs; {plan}")
        output = Path(spec.host_paths.output)
        for name, text in rule.outputs.items():
            path = output / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(fill(text, values), encoding="utf-8")

    @staticmethod
    def _handle(spec: NodeSpec, ends: float | None, status: str | None, code: int,
                reason: str, held: bool) -> Handle:
        return {"kind": "simulate", "job": spec.job_id, "rank": spec.rank,
                "ends": ends, "status": status, "code": code, "reason": reason,
                "held": held}

    def poll(self, handle: Handle) -> int | None:
        key = (handle["job"], handle["rank"])
        with self._lock:
            code = self._ended.get(key)
        if code is not None:
            return code
        if handle["held"] or (handle["ends"] is not None and time.time() < handle["ends"]):
            return None
        if handle["rank"] == 0 and handle["status"] and (
                handle["reason"] or handle["status"] == Status.STOPPED.value):
            # the rule's own words (or STOPPED, which no exit code says) decide the end
            reason = handle["reason"] or "stopped"
            self.store.request_end(handle["job"], Status.RUNNING, Status(handle["status"]),
                                   reason)
        return int(handle["code"])

    def exit_note(self, handle: Handle) -> str:
        return ""

    def stop(self, handle: Handle, grace: float) -> None:
        self._end(handle, STOP_CODE)

    def kill(self, handle: Handle) -> None:
        self._end(handle, KILL_CODE)

    def end_node(self, handle: Handle, code: int) -> None:
        """The node ends with `code` at its next poll (an advance by hand)."""
        self._end(handle, code)

    def _end(self, handle: Handle, code: int) -> None:
        with self._lock:
            self._ended.setdefault((handle["job"], handle["rank"]), code)
        wait = self._waits.get(handle["job"])
        if wait is not None:
            wait.set()

    def adopt(self, handle: Handle) -> None:
        """Nothing to attach: the plan is in the handle."""

    def release(self, handle: Handle) -> None:
        with self._lock:
            self._ended.pop((handle["job"], handle["rank"]), None)

    def describe_rules(self) -> list[dict[str, Any]]:
        with self._lock:
            added = list(self._added)
        return [r.model_dump(exclude_defaults=True) for r in added + self.rules]


def simulated_pools(pools: Iterable[Pool], simulate: SimulateExecutor
                    ) -> dict[str, tuple[SimulateExecutor, SimulateExecutor]]:
    """Pool key -> the executors (DEFAULT, CCR) of each `backend = "simulate"` pool."""
    return {f"{p.type}/{p.name}": (simulate, simulate) for p in pools
            if p.backend == "simulate"}
