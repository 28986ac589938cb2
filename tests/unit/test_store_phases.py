"""Phases are part of the transition table: the store gives a job only a phase its status
may have, and reads every phase back as a JobPhase."""
import time
from pathlib import Path

import pytest

from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.status import PHASES, JobPhase, Status
from bmlocal.runtime.store import Store


def pending_job(store: Store) -> int:
    spec = JobSpec(project="p", name="j", description="", env_type="DEFAULT",
                   output_source="PFS", output_path="/o", code_source="PFS", start_cmd="true",
                   node_count=1, resource_name="CPU_4C_16G", max_duration=1)
    return store.create(spec, time.time(), None)


def test_a_phase_outside_its_status_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    job_id = pending_job(store)
    with pytest.raises(ValueError, match="a PENDING job cannot be in phase running"):
        store.update(job_id, Status.PENDING, phase=JobPhase.RUNNING)
    with pytest.raises(ValueError, match="a RUNNING job cannot be in phase queued"):
        store.move(job_id, Status.PENDING, Status.RUNNING, phase=JobPhase.QUEUED)
    with pytest.raises(ValueError):
        store.update(job_id, Status.PENDING, phase="waiting")  # no such phase
    assert store.get(job_id).phase is JobPhase.QUEUED  # nothing was written


def test_every_phase_of_the_table_is_kept_and_read_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    job_id = pending_job(store)
    for phase in sorted(PHASES[Status.PENDING]):
        assert store.update(job_id, Status.PENDING, phase=phase)
        assert store.get(job_id).phase is phase
    assert store.move(job_id, Status.PENDING, Status.RUNNING, phase=JobPhase.RUNNING)
    assert store.get(job_id).phase is JobPhase.RUNNING
    assert store.move(job_id, Status.RUNNING, Status.SUCCESSED)
    assert store.get(job_id).phase is JobPhase.RUNNING  # an ended job keeps its last phase
