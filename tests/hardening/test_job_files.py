"""A job's own files are not to be trusted: links, FIFOs and swapped files that a job plants
in its log and output directories are never followed by the server (logs call, event log,
delivery to PFS and to local buckets), however the job times its swap."""
import os
import threading
import time
import uuid
from pathlib import Path

import pytest

from bmlocal.runtime.joblogs import JobLogs
from bmlocal.runtime.storage.localbos import LocalBosStorage
from tests.hardening.hostile_report import record
from tests.support.server import Server


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, str]:
    """A host file outside every root of the server, and the token it holds."""
    token = f"host-secret-{uuid.uuid4().hex}"
    path = tmp_path / "outside" / "secret.txt"
    path.parent.mkdir()
    path.write_text(token + "\n")
    return path, token


def everything_under(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*")
                   if p.is_file() and not p.is_symlink())


def events(server: Server, job_id: int) -> str:
    return (server.data_dir / "jobs" / str(job_id) / "logs" / "job.log").read_text()


def test_the_logs_call_reads_no_planted_link_and_never_blocks_on_a_fifo(
        server: Server, secret: tuple[Path, str]) -> None:
    path, token = secret
    job_id = server.create("plant", f"ln -s {path} $BML_LOG_DIR/evil.log && "
                                    "mkfifo $BML_LOG_DIR/fifo.log && echo planted")
    info = server.wait(job_id)
    assert info["train_status"] == "SUCCESSED", info
    assert info["logs"] == ["job.log", "node-0.log"]  # the link and the FIFO are not logs
    for name in ("evil.log", "fifo.log"):
        started = time.monotonic()
        answer = server.ok("logs", {"id": job_id, "prjId": "p1", "file": name})
        assert answer == {"file": name, "offset": 0, "content": ""}
        assert time.monotonic() - started < 5
    assert "planted" in server.ok("logs", {"id": job_id, "prjId": "p1"})["content"]
    record("logs call", "log file a link to a host file", "not listed, read as empty")
    record("logs call", "log file a FIFO", "not listed, answered at once, empty")


def test_the_logs_call_answers_an_offset_past_any_file_as_invalid(server: Server) -> None:
    job_id = server.create("offsets", "echo written")
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    far = {"id": job_id, "prjId": "p1", "file": "node-0.log"}
    assert server.ok("logs", {**far, "offset": 2**63 - 1})["content"] == ""
    for offset in (2**63, 10**30):
        assert server.error("logs", {**far, "offset": offset}) == (406001,
                                                                    "param[offset] invalid")


def test_the_event_log_replaced_by_a_link_does_not_write_to_its_target(
        server: Server, secret: tuple[Path, str]) -> None:
    path, token = secret
    job_id = server.create("swap-events", f"ln -sf {path} $BML_LOG_DIR/job.log")
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    assert path.read_text() == token + "\n"  # the server's lines did not go to the host file
    job_log = server.data_dir / "jobs" / str(job_id) / "logs" / "job.log"
    assert not job_log.is_symlink() and "SUCCESSED" in job_log.read_text()
    record("event log", "job.log replaced by a link to a host file",
           "link removed, a new job.log written; host file unchanged")


def test_pfs_delivery_writes_nothing_through_a_planted_logs_link(
        server: Server, secret: tuple[Path, str]) -> None:
    path, token = secret
    outside = path.parent / "written-here"
    outside.mkdir()
    job_id = server.create("link-out", f"ln -s {outside} $BML_OUTPUT_DIR/logs && echo hi")
    info = server.wait(job_id)
    assert list(outside.iterdir()) == []  # delivery did not write outside the PFS root
    assert "symbolic link" in info["output_note"] and str(server.root) not in info["output_note"]
    record("PFS delivery", "output/logs a link to a host directory",
           f"nothing written there; output_note: {info['output_note']}")


def test_pfs_delivery_copies_no_planted_link_from_the_log_directory(
        server: Server, secret: tuple[Path, str]) -> None:
    path, token = secret
    job_id = server.create("leak", f"ln -s {path} $BML_LOG_DIR/leak.log && "
                                   f"ln -s {path.parent} $BML_LOG_DIR/dir && echo mine")
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    delivered = server.pfs / "out" / "leak" / "logs"
    assert (delivered / "node-0.log").read_text() == "mine\n"
    assert not (delivered / "leak.log").exists() and not (delivered / "dir").exists()
    assert token not in everything_under(server.pfs)
    assert "leak.log in the log directory is a symbolic link, not followed" in \
        (delivered / "job.log").read_text() + events(server, job_id)
    record("PFS delivery", "log directory holds links to a host file and directory",
           "links not copied, each said in the event log")


def test_local_bucket_delivery_uploads_no_planted_link(
        server: Server, secret: tuple[Path, str]) -> None:
    path, token = secret
    job_id = server.create("bos-link", f"echo data > $BML_OUTPUT_DIR/real.txt && "
                                       f"ln -s {path} $BML_OUTPUT_DIR/link.txt", **{
                                           "train_config.output_UrlSource": "BOS",
                                           "train_config.output_path": "/bkt/run"})
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    assert (server.bos / "bkt" / "run" / "real.txt").read_text() == "data\n"
    assert not (server.bos / "bkt" / "run" / "link.txt").exists()
    assert token not in everything_under(server.bos)
    assert "link.txt is a symbolic link, not followed: not delivered" in events(server, job_id)
    record("local BOS delivery", "output file a link to a host file",
           "not uploaded, said in the event log")


def swapping(directory: Path, name: str, target: Path, stop: threading.Event) -> None:
    """What a hostile job does: `name` is its own plain file one moment and a link to a host
    file the next, each change atomic."""
    while not stop.is_set():
        (directory / ".f").write_text("the job's own line\n")
        os.replace(directory / ".f", directory / name)
        os.symlink(target, directory / ".l")
        os.replace(directory / ".l", directory / name)


def race(directory: Path, target: Path, attempt, seconds: float = 1.0) -> tuple[int, int]:
    """Run `attempt()` while a file is swapped; (attempts, naive reads that got the host
    file): the second shows the race is real and is hit."""
    stop = threading.Event()
    swapper = threading.Thread(target=swapping, args=(directory, "node-0.log", target, stop))
    swapper.start()
    attempts = naive = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            attempt()
            attempts += 1
            try:
                naive += "host-secret" in (directory / "node-0.log").read_text()
            except OSError:
                pass
    finally:
        stop.set()
        swapper.join()
    return attempts, naive


def test_a_log_swapped_for_a_link_between_check_and_use_is_never_read_through(
        tmp_path: Path, secret: tuple[Path, str]) -> None:
    path, token = secret
    logs = tmp_path / "logs"
    logs.mkdir()
    read: list[str] = []
    attempts, naive = race(logs, path, lambda: read.append(JobLogs(logs).read("node-0.log", 0).text))
    assert naive > 0 and attempts > 50
    assert not any(token in text for text in read)
    assert any("the job's own line" in text for text in read)
    record("logs call", "log swapped file/link while read (race)",
           f"{attempts} reads, 0 through the link (a plain open: {naive} leaks)")


def test_an_output_swapped_for_a_link_during_delivery_is_never_uploaded(
        tmp_path: Path, secret: tuple[Path, str]) -> None:
    path, token = secret
    out = tmp_path / "out"
    out.mkdir()
    bucket = LocalBosStorage(tmp_path / "bos")
    attempts, naive = race(out, path, lambda: bucket.sync_out(out, "/bkt/run", ["node-0.log"]))
    assert naive > 0 and attempts > 50
    assert token not in everything_under(tmp_path / "bos")
    record("local BOS delivery", "output swapped file/link during upload (race)",
           f"{attempts} uploads, 0 through the link (a plain open: {naive} leaks)")
