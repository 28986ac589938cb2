"""A grant taken back when a cut-short start is undone reads as no grant, not None."""
from pathlib import Path

from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.status import Status
from bmlocal.runtime.store import Store


def test_a_grant_taken_back_reads_as_no_grant(tmp_path: Path) -> None:
    store = Store(tmp_path / "bmlocal.db")
    spec = JobSpec(project="p1", name="undone", description="", env_type="DEFAULT",
                   output_source="PFS", output_path="/out", code_source="PFS",
                   start_cmd="true", node_count=1, resource_name="CPU_4C_16G", max_duration=1)
    job_id = store.create(spec, 0.0, None)
    assert store.update(job_id, Status.PENDING, phase="starting", grant={"cpu_num": 4})
    assert store.get(job_id).grant == {"cpu_num": 4}
    assert store.update(job_id, Status.PENDING, phase="queued", grant=None)
    assert store.get(job_id).grant == {}
