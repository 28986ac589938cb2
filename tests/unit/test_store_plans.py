"""The queries the scheduler runs at every pass find their rows through an index: with a
table scan each pass grew with every job ever stored (10,000 ended jobs made a job's start
10 ms slower)."""
import sqlite3
import time
from pathlib import Path

from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.status import Status
from bmlocal.runtime.store import Store


def statements(store: Store, *calls: str) -> list[str]:
    """The SQL each of the store's `calls` sends."""
    sent: list[str] = []
    db = store._db()  # noqa: SLF001 - the connection the calls use
    db.set_trace_callback(sent.append)
    try:
        for call in calls:
            getattr(store, call)(*(() if call != "queued_specs" else (256,)))
    finally:
        db.set_trace_callback(None)
    return sent


def test_every_pass_reads_the_active_jobs_through_an_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    for i in range(50):
        spec = JobSpec(project="p", name=f"j{i}", description="", env_type="DEFAULT",
                       output_source="PFS", output_path=f"/o/{i}", code_source="PFS",
                       start_cmd="true", node_count=1, resource_name="CPU_4C_16G",
                       max_duration=1)
        job_id = store.create(spec, time.time(), None)
        if i % 2:
            store.move(job_id, Status.PENDING, Status.STOPPED, status_reason="ended")
    sent = statements(store, "running", "queued_specs", "undelivered", "queue_summary")
    assert len(sent) >= 4
    db = sqlite3.connect(tmp_path / "bmlocal.db")
    for sql in sent:
        plan = " / ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "SCAN jobs" not in plan, (sql, plan)
