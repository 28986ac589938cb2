"""User code under test: a hyper-parameter sweep on the cloud's training-job API.

It submits one job per learning rate, waits for them, reads each job's metrics.json and
returns the best trial. It runs against the cloud or against bmlocal unchanged: only the
client's URL (and where PFS outputs are read) differ.
"""
import json
import time
from dataclasses import dataclass
from pathlib import Path

from bmlocal.client import BmlError, Client

RETRIED = frozenset({406000})  # the service's internal errors are worth another try


class SweepError(Exception):
    """The sweep could not give a result; the message says why."""


@dataclass(frozen=True)
class Trial:
    lr: float
    job_id: int
    status: str
    reason: str
    accuracy: float | None


@dataclass(frozen=True)
class SweepResult:
    best: Trial
    trials: list[Trial]


def job_body(project: str, name: str, lr: float) -> dict:
    return {
        "name": name, "description": f"sweep trial lr={lr}", "prjId": project,
        "train_config": {"env_type": "DEFAULT", "code_UrlSource": "PFS",
                         "code_path": "/sweep/code", "start_cmd": f"python train.py --lr {lr}",
                         "output_UrlSource": "PFS", "output_path": f"/sweep/out/{name}"},
        "dataset_config": {},
        "resource_config": {"resource_type": "PUBLIC", "resource_name": "CPU_4C_16G",
                            "node_count": 1, "max_duration": 1},
    }


def run_sweep(client: Client, project: str, lrs: list[float], pfs_root: Path,
              prefix: str = "sweep", timeout: float = 600) -> SweepResult:
    """`pfs_root`: where this machine sees PFS paths (to read each trial's metrics)."""
    submitted: list[tuple[float, int]] = []
    try:
        for i, lr in enumerate(lrs):
            submitted.append((lr, submit(client, job_body(project, f"{prefix}-{i}", lr))))
    except BmlError as err:
        for _, job_id in submitted:  # no half sweep left running
            stop_quietly(client, job_id, project)
        if err.error_code == 406035:
            raise SweepError(f"project {project} holds its maximum of jobs: delete old ones "
                             f"(submitted {len(submitted)} of {len(lrs)})") from err
        raise
    trials = [collect(client, project, lr, job_id, pfs_root, timeout)
              for lr, job_id in submitted]
    finished = [t for t in trials if t.accuracy is not None]
    if not finished:
        raise SweepError("every trial failed: " + "; ".join(
            f"lr={t.lr}: {t.reason}" for t in trials))
    return SweepResult(max(finished, key=lambda t: t.accuracy or 0.0), trials)


def submit(client: Client, body: dict, attempts: int = 3) -> int:
    """Create the job, trying again after an internal error or a lost answer. A create
    whose answer was lost may have created the job: it is looked up by name first."""
    for attempt in range(attempts):
        try:
            return client.create(body)
        except BmlError as err:
            if err.error_code is None:  # no answer: the job may exist
                found = find_by_name(client, body["prjId"], body["name"])
                if found is not None:
                    return found
            elif err.error_code not in RETRIED or attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2 ** attempt)
    raise SweepError(f"{body['name']}: not created after {attempts} attempts")


def find_by_name(client: Client, project: str, name: str) -> int | None:
    start = 0
    while True:
        page = client.list(project, start=start, num=100)
        for item in page["items"]:
            if item["name"] == name:
                return item["id"]
        start += len(page["items"])
        if not page["items"] or start >= page["total"]:
            return None


def collect(client: Client, project: str, lr: float, job_id: int, pfs_root: Path,
            timeout: float) -> Trial:
    final = client.wait(job_id, project, timeout=timeout)
    accuracy = None
    if final["train_status"] == "SUCCESSED":
        output = final["train_config"]["output_path"].lstrip("/")
        metrics = json.loads((pfs_root / output / "metrics.json").read_text())
        accuracy = float(metrics["accuracy"])
    return Trial(lr, job_id, final["train_status"], final.get("status_reason", ""), accuracy)


def stop_quietly(client: Client, job_id: int, project: str) -> None:
    try:
        client.stop(job_id, project)
    except BmlError as err:
        if err.error_code != 406027:  # it had ended already: nothing to stop
            raise
