"""Hostile code archives of every kind end their job FAILED, at once, with a reason that says
why and shows no host path; nothing is written outside the job's code directory, and the
server goes on running other jobs."""
from pathlib import Path

import pytest

from bmlocal.runtime.storage.archive import ArchiveError, Limits, unpack
from tests.hardening.hostile_archives import HOSTILE, Hostile, member, tar_of, zip_of
from tests.hardening.hostile_report import record
from tests.hardening.shared_server import shared  # noqa: F401 (a fixture)
from tests.support.server import Server


@pytest.mark.parametrize("case", HOSTILE, ids=[h.filename for h in HOSTILE])
def test_a_hostile_archive_ends_its_job_failed_with_a_reason(shared: Server,
                                                             case: Hostile) -> None:
    (shared.pfs / "evil").mkdir(exist_ok=True)
    (shared.pfs / "evil" / case.filename).write_bytes(case.make())
    job_id = shared.create(f"evil-{case.filename}".replace(".", "-"), "echo ran",
                           **{"train_config.code_path": f"/evil/{case.filename}"})
    info = shared.wait(job_id, timeout=30)
    assert info["train_status"] == "FAILED", info
    reason = info["status_reason"]
    assert reason.startswith("staging failed") and case.reason in reason, reason
    assert str(shared.root) not in reason and "/tmp" not in reason, reason
    assert shared.node_log(job_id) == ""  # the command never ran
    assert not list(shared.root.rglob("escape.py")) and not Path("/abs/x.py").exists()
    record("code archive", case.name, f"FAILED: {reason}")


def test_the_server_runs_jobs_after_every_hostile_archive(shared: Server) -> None:
    job_id = shared.create("after-the-attacks", "echo still serving")
    info = shared.wait(job_id, timeout=30)
    assert info["train_status"] == "SUCCESSED" and "still serving" in shared.node_log(job_id)


def test_a_legitimate_archive_with_an_internal_link_and_a_script_still_unpacks(
        tmp_path: Path) -> None:
    data = tar_of((member("pkg/run.sh"), b"#!/bin/sh\necho ok\n"),
                  (member("run", b"2", "pkg/run.sh"), None))
    (tmp_path / "ok.tgz").write_bytes(data)
    unpack(tmp_path / "ok.tgz", tmp_path / "code")
    assert (tmp_path / "code" / "run").read_text() == "#!/bin/sh\necho ok\n"


def test_member_count_and_size_limits(tmp_path: Path) -> None:
    (tmp_path / "many.zip").write_bytes(zip_of(*[(f"f{i}", b"") for i in range(11)]))
    with pytest.raises(ArchiveError, match="more than 10 members"):
        unpack(tmp_path / "many.zip", tmp_path / "a", Limits(max_members=10))
    (tmp_path / "big.zip").write_bytes(zip_of(("big", bytes(5000))))
    with pytest.raises(ArchiveError, match="unpacks to more than"):
        unpack(tmp_path / "big.zip", tmp_path / "b", Limits(max_bytes=4000))
    assert not (tmp_path / "b" / "big").exists()  # refused before anything was written
