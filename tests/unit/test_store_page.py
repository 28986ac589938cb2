"""A page of `list` is read as one row of JSON: it must hold what `get` reads, the times to
the last bit (SQLite's JSON writes a REAL with 15 digits), in the order and bounds asked."""
import math
import sqlite3
import time
from pathlib import Path

from hypothesis import given, settings, strategies as st

from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.status import JobPhase, Status
from bmlocal.runtime.store import PAGE, Store


def spec(name: str, project: str = "p") -> JobSpec:
    return JobSpec(project=project, name=name, description="", env_type="DEFAULT",
                   output_source="PFS", output_path="/o", code_source="PFS",
                   start_cmd="echo 'é\"\\\n\t'", node_count=1, resource_name="CPU_4C_16G",
                   max_duration=1)


# times as bmlocal stores them (time.time()), the last bit of the double included
TIMES = st.floats(min_value=0, max_value=1e12, allow_nan=False) | st.builds(
    lambda t, up: math.nextafter(t, math.inf if up else 0.0),
    st.integers(0, 10 ** 11).map(float), st.booleans())


@settings(max_examples=60, deadline=None)
@given(created=TIMES, started=TIMES, ended=TIMES)
def test_a_listed_job_is_the_job_stored(tmp_path_factory, created: float, started: float,
                                        ended: float) -> None:
    store = Store(tmp_path_factory.mktemp("page") / "bmlocal.db")
    waiting = store.create(spec("waiting"), created, None)
    done = store.create(spec("done"), created, None)
    store.update(done, Status.PENDING, phase=JobPhase.STARTING, grant={"cpu_num": 4})
    store.move(done, Status.PENDING, Status.RUNNING, phase=JobPhase.RUNNING, start_time=started)
    store.move(done, Status.RUNNING, Status.SUCCESSED, end_time=ended, status_reason="ok")
    total, jobs = store.page("p", 0, 10)
    assert total == 2
    assert jobs == [store.get(done), store.get(waiting)]
    assert (jobs[0].create_time, jobs[0].start_time, jobs[0].end_time) == (created, started,
                                                                           ended)
    assert jobs[1].start_time is None and jobs[1].grant == {}


def test_a_page_is_newest_first_within_its_bounds_and_project(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    ids = [store.create(spec(f"j{i}"), time.time(), None) for i in range(8)]
    store.create(spec("elsewhere", project="q"), time.time(), None)
    store.move(ids[7], Status.PENDING, Status.STOPPED, status_reason="stopped")
    store.delete(ids[7])
    total, jobs = store.page("p", 2, 3)
    assert total == 7
    assert [job.id for job in jobs] == [ids[4], ids[3], ids[2]]
    assert store.page("p", 7, 3) == (7, [])
    assert store.page("nobody", 0, 10) == (0, [])


def test_the_page_is_read_through_an_index(tmp_path: Path) -> None:
    Store(tmp_path / "bmlocal.db")
    db = sqlite3.connect(tmp_path / "bmlocal.db")
    plan = " / ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + PAGE,
                                                   ("p", 10, 0)))
    assert "SCAN jobs" not in plan, plan
