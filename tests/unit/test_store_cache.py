"""Jobs read by id are kept in memory between writes: every write is seen by the next read,
a read that raced a write is not kept, and a kept job cannot be changed by its readers."""
import dataclasses
import threading
import time
from pathlib import Path

import pytest

from bmlocal.runtime.jobcache import JobCache
from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.status import JobPhase, Status
from bmlocal.runtime.store import Store


def spec(name: str = "j", project: str = "p") -> JobSpec:
    return JobSpec(project=project, name=name, description="", env_type="DEFAULT",
                   output_source="PFS", output_path="/o", code_source="PFS", start_cmd="true",
                   node_count=1, resource_name="CPU_4C_16G", max_duration=1)


def test_every_write_is_seen_by_the_next_read(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    job_id = store.create(spec(), time.time(), None)
    assert store.get(job_id).status is Status.PENDING
    assert store.get(job_id) is store.get(job_id)  # kept
    store.update(job_id, Status.PENDING, phase=JobPhase.STARTING, grant={"cpu_num": 4})
    assert store.get(job_id).grant == {"cpu_num": 4}
    store.move(job_id, Status.PENDING, Status.RUNNING, phase=JobPhase.RUNNING, start_time=5.0)
    assert (store.get(job_id).status, store.get(job_id).start_time) == (Status.RUNNING, 5.0)
    store.request_end(job_id, Status.RUNNING, Status.STOPPED, "asked")
    assert store.get(job_id).end_status is Status.STOPPED
    store.move(job_id, Status.RUNNING, Status.STOPPED)
    assert store.get(job_id, "p").status is Status.STOPPED
    assert store.get(job_id, "other") is None  # the project still counts for a kept job
    store.delete(job_id)
    assert store.get(job_id) is None


def test_a_reset_forgets_every_kept_job(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    ids = [store.create(spec(f"j{n}"), time.time(), None) for n in range(3)]
    assert all(store.get(i) for i in ids)
    store.remove_all_jobs()
    assert [store.get(i) for i in ids] == [None] * 3


def test_a_read_that_raced_a_write_is_not_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    job = store.get(store.create(spec(), time.time(), None))
    cache = JobCache()
    mark = cache.mark()  # a reader starts reading the old row...
    cache.forget(job.id)  # ...a write commits meanwhile...
    cache.keep(job, mark)  # ...and the old row it read is refused
    assert cache.get(job.id) is None
    cache.keep(job, cache.mark())
    assert cache.get(job.id) is job


def test_writes_from_many_threads_are_each_seen(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    job_id = store.create(spec(), time.time(), None)
    store.move(job_id, Status.PENDING, Status.RUNNING, phase=JobPhase.RUNNING)
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            store.get(job_id)
            time.sleep(0)  # lets the writer in: a spinning reader holds the GIL 5 ms
    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for n in range(200):
            store.update(job_id, Status.RUNNING, status_reason=f"r{n}")
            assert store.get(job_id).status_reason == f"r{n}"
    finally:
        done.set()
        for reader in readers:
            reader.join()


def test_at_most_limit_jobs_are_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    jobs = [store.get(store.create(spec(f"j{n}"), time.time(), None)) for n in range(5)]
    cache = JobCache(limit=2)
    for job in jobs:
        cache.keep(job, cache.mark())
    assert [cache.get(j.id) is not None for j in jobs] == [False, False, False, True, True]


def test_a_kept_job_cannot_be_changed_by_a_reader(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    job = store.get(store.create(spec(), time.time(), None))
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.status = Status.FAILED  # type: ignore[misc]
