"""The log names a detail answers, listed again only when the log directory changed."""
import os
import time
from pathlib import Path

from bmlocal.runtime.lognames import SETTLED_NS, LogNames


def logs_dir(data_dir: Path, job_id: int) -> Path:
    path = data_dir / "jobs" / str(job_id) / "logs"
    path.mkdir(parents=True)
    return path


def settle() -> None:
    time.sleep(SETTLED_NS / 1e9 + 0.1)


def test_a_kept_listing_follows_a_log_added_removed_or_replaced_by_a_link(tmp_path: Path
                                                                         ) -> None:
    logs = logs_dir(tmp_path, 7)
    (logs / "node-0.log").write_text("x")
    names = LogNames(tmp_path)
    settle()
    assert names.of(7) == ["node-0.log"]  # listed and kept: the directory has settled
    assert names.of(7) == ["node-0.log"]
    (logs / "node-1.log").write_text("y")
    assert names.of(7) == ["node-0.log", "node-1.log"]
    settle()
    assert names.of(7) == ["node-0.log", "node-1.log"]
    (logs / "node-1.log").unlink()
    os.symlink("/etc/passwd", logs / "node-1.log")
    assert names.of(7) == ["node-0.log"]  # a link is no log


def test_a_job_without_a_log_directory_has_no_logs(tmp_path: Path) -> None:
    assert LogNames(tmp_path).of(3) == []


def test_at_most_limit_listings_are_kept(tmp_path: Path) -> None:
    for job_id in range(5):
        (logs_dir(tmp_path, job_id) / "job.log").write_text("x")
    names = LogNames(tmp_path, limit=2)
    settle()
    assert [names.of(j) for j in range(5)] == [["job.log"]] * 5
    assert len(names._kept) == 2


def test_an_ended_jobs_listing_is_answered_without_a_system_call(tmp_path: Path,
                                                                 monkeypatch) -> None:
    logs = logs_dir(tmp_path, 7)
    (logs / "node-0.log").write_text("x")
    names = LogNames(tmp_path)
    settle()
    assert names.of(7) == ["node-0.log"]  # kept while it ran: not final
    (logs / "job.log").write_text("y")
    settle()
    assert names.of(7, ended=True) == ["job.log", "node-0.log"]  # listed again, after its end

    def no_stat(*args: object, **kwargs: object) -> None:
        raise AssertionError("an ended job's kept listing needs no stat")
    monkeypatch.setattr(os, "stat", no_stat)
    assert names.of(7, ended=True) == ["job.log", "node-0.log"]
