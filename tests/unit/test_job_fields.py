"""A detail's fields are made once a version of a job: a polled job is answered from them
until the store writes it, and every write shows in the next detail."""
import time
from pathlib import Path

from bmlocal.api.operations import JobFields, job_fields
from bmlocal.runtime.status import JobPhase, Status
from bmlocal.runtime.store import Store
from tests.unit.test_store_cache import spec


def test_fields_are_kept_for_one_version_of_a_job_and_made_again_after_a_write(
        tmp_path: Path) -> None:
    store, fields = Store(tmp_path / "bmlocal.db"), JobFields()
    job_id = store.create(spec(), time.time(), None)
    first = fields.of(store.get(job_id))
    assert first == job_fields(store.get(job_id)) and first["train_status"] == "PENDING"
    assert fields.of(store.get(job_id)) is first  # the same version: not made again
    store.update(job_id, Status.PENDING, phase=JobPhase.STARTING, grant={"cpu_num": 4})
    store.move(job_id, Status.PENDING, Status.RUNNING, phase=JobPhase.RUNNING, start_time=5.0)
    running = fields.of(store.get(job_id))
    assert running["train_status"] == "RUNNING" and running["resource_config"]["cpu_num"] == "4"
    assert first["train_status"] == "PENDING"  # an answer given before is not changed


def test_no_more_than_the_limit_are_kept(tmp_path: Path) -> None:
    store, fields = Store(tmp_path / "bmlocal.db"), JobFields(limit=3)
    jobs = [store.get(store.create(spec(f"j{n}"), time.time(), None)) for n in range(10)]
    first = fields.of(jobs[0])
    assert fields.of(jobs[0]) is first
    for job in jobs[1:]:
        assert fields.of(job)["name"] == job.name
    again = fields.of(jobs[0])  # let go of to keep within the limit: made again
    assert again == first and again is not first
