"""Faults injected into a running bmlocal, and what becomes of every job: a Docker engine
stopped and started again (an engine of the tests' own), a store that goes down, a server
killed with SIGKILL in the middle of a start, a full disk. No job may be lost: each one ends
with a status and a reason, or is deleted on purpose. Each test records its outcome for
bench/bench_faults.py."""
import os
import shutil
import signal
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.conftest import leftover_pids
from tests.hardening.fault_support import (IMAGE, OwnEngine, lost, record, tmpfs,
                                           unmount, wait_for)
from tests.storage.moto_server import ACCESS_KEY, SECRET_KEY, client_for, start_or_skip
from tests.support.require import missing
from tests.support.server import Server, job_body

ONE_SLOT = "[scheduler]\ncpu_slots = 1\n"
FAST_RETRY = "[delivery]\nretry_seconds = 0.5\n"


def events(server: Server, job_id: int) -> str:
    path = server.data_dir / "jobs" / str(job_id) / "logs" / "job.log"
    return path.read_text(errors="replace") if path.exists() else ""


def bos_config(endpoint: str) -> str:
    return (f'[bos]\nendpoint = "{endpoint}"\naccess_key = "{ACCESS_KEY}"\n'
            f'secret_key = "{SECRET_KEY}"\nsync_interval_seconds = 0.3\n'
            'final_sync_timeout_seconds = 1\n')


def big_code(server: Server, name: str, size: int) -> str:
    """A PFS code directory holding one file of `size` bytes (sparse: its copy writes them
    all, its source takes no room)."""
    directory = server.pfs / name
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "weights.bin", "wb") as f:
        f.truncate(size)
    (directory / "main.sh").write_text("echo started\n")
    return f"/{name}"


def ccr(name: str, cmd: str, **changes) -> dict:
    return job_body(name, cmd, **{"train_config.env_type": "CCR",
                                  "train_config.image": "/" + IMAGE.split(":")[0],
                                  "train_config.tag": IMAGE.split(":")[1],
                                  "train_config.distribute_strategy": "PytorchDDP", **changes})


@pytest.fixture(scope="module")
def engine_for_module() -> Iterator[OwnEngine]:
    """Started (and its image loaded) once for this module's tests, stopped after them."""
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        missing("DOCKER", "a second Docker engine needs dockerd and root")
    engine = OwnEngine()
    engine.start()
    engine.ensure_image()
    yield engine
    engine.stop()


@pytest.fixture
def own_engine(engine_for_module: OwnEngine) -> Iterator[OwnEngine]:
    yield engine_for_module
    engine_for_module.start()  # a test may leave it stopped
    engine_for_module.remove_containers()


# --- a bad job does not stall the others -------------------------------------------------

def test_a_full_data_disk_while_staging_fails_that_job_and_frees_its_slot(
        tmp_path: Path) -> None:
    server = Server(tmp_path / "s", config=ONE_SLOT)
    tmpfs(server.data_dir, "24m")
    try:
        server.start()
        big = server.ok("create", job_body("big", "sh main.sh", **{
            "train_config.code_path": big_code(server, "big", 64 * 2**20)}))
        info = server.wait(big, timeout=60)
        assert info["train_status"] == "FAILED"
        assert info["status_reason"].startswith("staging failed: No space left on device")
        assert str(tmp_path) not in info["status_reason"]  # no host path
        small = server.create("small", "echo fine")  # the one CPU slot came back
        assert server.wait(small, timeout=60)["train_status"] == "SUCCESSED"
        server.ok("delete", {"id": big, "prjId": "p1"})
        assert lost(server, [big, small], deleted=(big,)) == 0
        record("disk full under the data directory", "staging a 64 MB code tree into 24 MB",
               2, 0, "the job FAILED: staging failed: No space left on device; its slot "
                     "freed, the next job SUCCESSED")
    finally:
        server.stop()
        unmount(server.data_dir)


def test_stop_while_staging_is_at_once_and_the_slot_comes_back(tmp_path: Path) -> None:
    server = Server(tmp_path / "s", config=ONE_SLOT).start()
    try:
        slow = server.ok("create", job_body("slow", "sh main.sh", **{
            "train_config.code_path": big_code(server, "slow", 4 * 2**30)}))
        job_dir = server.data_dir / "jobs" / str(slow)  # the copy is under way:
        wait_for(lambda: any(job_dir.glob(".fetch-*/slow/.weights.bin.bmlocal-partial")))
        asked = time.monotonic()
        server.ok("stop", {"id": slow, "prjId": "p1"})
        info = server.detail(slow)
        took = time.monotonic() - asked
        assert info["train_status"] == "STOPPED" and took < 2.0, (info, took)
        server.ok("delete", {"id": slow, "prjId": "p1"})  # deletable while staging goes on
        after = server.create("after", "echo next")
        server.wait(after, "RUNNING", timeout=20)  # the 4 GB copy was abandoned, not ended
        freed = time.monotonic() - asked
        assert server.wait(after, timeout=30)["train_status"] == "SUCCESSED"
        assert server.node_log(slow) == ""  # it never started
        wait_for(lambda: not (server.data_dir / "jobs" / str(slow)).exists(), timeout=30)
        wait_for(lambda: not any((server.data_dir / "trash").iterdir()), timeout=30)
        assert lost(server, [slow, after], deleted=(slow,)) == 0
        record("stop while staging", "stop during a 4 GB copy", 2, 0,
               f"STOPPED in {took * 1000:.0f} ms; the copy abandoned and the slot given to "
               f"the next job {freed:.1f} s after the stop; the deleted job's directory "
               "removed")
    finally:
        server.stop()


def test_docker_engine_stopped_and_restarted(make_server: Callable[..., Server],
                                              own_engine: OwnEngine) -> None:
    server = make_server(extra_args=["--executor", "docker"], grace_seconds=1,
                         env={"DOCKER_HOST": own_engine.host})
    container = server.ok("create", ccr("in-container", "sleep 60"))
    process = server.create("on-host", "sleep 2; echo done")
    server.wait(container, "RUNNING", timeout=60)
    server.wait(process, "RUNNING", timeout=60)
    own_engine.stop()  # the engine's shutdown ends its containers (SIGTERM)
    # the host job is watched and ends on time while the engine does not answer
    assert server.wait(process, timeout=30)["train_status"] == "SUCCESSED"
    refused = server.ok("create", ccr("while-down", "true"))
    info = server.wait(refused, timeout=30)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"] == ("could not start: the engine did not answer "
                                     "(connection failed)")
    assert "the engine did not answer" in events(server, refused)
    own_engine.start()
    info = server.wait(container, timeout=60)
    assert info["train_status"] == "FAILED", info
    assert info["status_reason"].startswith(("node 0 exited with code 143",
                                             "node 0 exited with code 137")), info
    server.restart()  # a container the engine could not remove then is swept now
    wait_for(lambda: own_engine.docker("ps", "-aq", "--filter",
                                       "label=bmlocal.job").stdout == "", timeout=30)
    assert lost(server, [container, process, refused]) == 0
    record("Docker engine stopped and restarted", "dockerd stopped under a running CCR "
           "job and a host job, then started", 3, 0, "host job SUCCESSED on time; a CCR "
           "create meanwhile FAILED naming the engine; the CCR job FAILED with the exit "
           "code the engine's shutdown gave it")


def test_a_docker_engine_that_hangs_does_not_stall_other_jobs(
        make_server: Callable[..., Server], own_engine: OwnEngine) -> None:
    server = make_server(extra_args=["--executor", "docker"], grace_seconds=1,
                         env={"DOCKER_HOST": own_engine.host})
    container = server.ok("create", ccr("frozen", "sleep 60"))
    server.wait(container, "RUNNING", timeout=60)
    own_engine.freeze()  # its socket accepts, nothing answers
    try:
        asked = time.monotonic()
        quick = server.create("quick", "sleep 1")
        assert server.wait(quick, timeout=30)["train_status"] == "SUCCESSED"
        took = time.monotonic() - asked
        assert took < 8, took  # no engine's 10 s timeout on its way
        long = server.create("long", "sleep 60")
        server.wait(long, "RUNNING", timeout=30)
        server.ok("stop", {"id": long, "prjId": "p1"})
        assert server.wait(long, timeout=10)["train_status"] == "STOPPED"
        assert server.detail(container)["train_status"] == "RUNNING"
    finally:
        own_engine.freeze(False)
    server.ok("stop", {"id": container, "prjId": "p1"})
    assert server.wait(container, timeout=60)["train_status"] == "STOPPED"
    assert lost(server, [container, quick, long]) == 0
    record("Docker engine hangs", "dockerd SIGSTOPped under a running CCR job", 3, 0,
           f"host jobs ran ({took:.1f} s for a 1 s job) and stopped on time; the CCR job "
           "STOPPED once the engine answered again")


# --- nothing lost ------------------------------------------------------------------------

def kill_mid_start(server: Server, job_id: int, with_nodes: bool) -> bool:
    """SIGKILL the server while the job is PENDING in its start (with a node saved, if
    asked); False if the start ended first."""
    db = sqlite3.connect(server.data_dir / "bmlocal.db", timeout=10)
    try:
        while True:
            (status, phase), = db.execute("SELECT status, phase FROM jobs WHERE id=?",
                                          (job_id,)).fetchall()
            if status != "PENDING":
                return False
            nodes = db.execute("SELECT COUNT(*) FROM nodes WHERE job_id=?",
                               (job_id,)).fetchone()[0]
            if phase == "starting" and (nodes or not with_nodes):
                server.stop(signal.SIGKILL)
                return True
            time.sleep(0.002)
    finally:
        db.close()


def test_a_crash_mid_start_is_started_again(make_server: Callable[..., Server]) -> None:
    server = make_server()
    job = server.ok("create", job_body("cut", "sh main.sh", **{
        "train_config.code_path": big_code(server, "cut", 512 * 2**20)}))
    assert kill_mid_start(server, job, with_nodes=False)
    server.start()
    info = server.wait(job, timeout=120)
    assert info["train_status"] == "SUCCESSED", info
    assert server.node_log(job).count("started") == 1
    assert lost(server, [job]) == 0
    record("crash mid-start", "kill -9 of the server while a job stages", 1, 0,
           "the job was queued again at restart and SUCCESSED once")


def test_a_shutdown_mid_start_does_not_wait_for_the_copy(
        make_server: Callable[..., Server]) -> None:
    server = make_server()
    job = server.ok("create", job_body("copying", "sh main.sh", **{
        "train_config.code_path": big_code(server, "copying", 4 * 2**30)}))
    job_dir = server.data_dir / "jobs" / str(job)
    wait_for(lambda: any(job_dir.glob(".fetch-*/copying/.weights.bin.bmlocal-partial")))
    asked = time.monotonic()
    server.stop()  # SIGTERM
    took = time.monotonic() - asked
    assert took < 15, took  # not the 4 GB copy's time
    assert "left to the next start" not in server.log_text()  # given up, not timed out
    assert "Traceback" not in server.log_text()
    (server.pfs / "copying" / "weights.bin").write_bytes(b"small now")
    server.start()
    info = server.wait(job, timeout=60)
    assert info["train_status"] == "SUCCESSED", info
    assert server.node_log(job).count("started") == 1
    assert lost(server, [job]) == 0
    record("shutdown mid-start", "SIGTERM to the server during a 4 GB copy", 1, 0,
           f"the server exited in {took:.1f} s; the job was queued again at the next start "
           "and SUCCESSED once")


def test_a_crash_mid_start_with_its_engine_down_does_not_hold_the_server(
        make_server: Callable[..., Server], own_engine: OwnEngine) -> None:
    docker = {"extra_args": ["--executor", "docker"], "env": {"DOCKER_HOST": own_engine.host}}
    server = make_server(**docker)
    for attempt in range(5):
        job = server.ok("create", ccr(f"cut-{attempt}", "echo ran",
                                      **{"resource_config.node_count": 3}))
        if kill_mid_start(server, job, with_nodes=True):
            break
        server.wait(job)
    else:
        pytest.fail("the server was never caught between two node starts")
    own_engine.stop()
    server.extra_args = ["--executor", "auto"]  # Docker is down: --executor docker refuses
    started = time.monotonic()
    server.start()  # listens: recovery does not wait for the engine
    assert time.monotonic() - started < 30
    assert server.detail(job)["train_status"] == "PENDING"
    wait_for(lambda: "cannot be checked" in events(server, job), timeout=10)
    own_engine.start()
    server.stop()
    server.extra_args = docker["extra_args"]
    server.start()
    info = server.wait(job, timeout=120)
    assert info["train_status"] == "SUCCESSED", (info, events(server, job))
    assert lost(server, [job]) == 0
    record("crash mid-start, engine down", "kill -9 between two container starts, dockerd "
           "stopped, server started", 1, 0, "the server listened at once, the job waited "
           "PENDING; with the engine back it was started again and SUCCESSED")


def test_a_store_that_is_down_gets_its_outputs_while_the_server_runs(
        make_server: Callable[..., Server], tmp_path: Path) -> None:
    endpoint, stop_store = start_or_skip(tmp_path / "moto")
    port = int(endpoint.rsplit(":", 1)[1])
    client_for(endpoint).create_bucket(Bucket="down")
    server = make_server(config=FAST_RETRY + bos_config(endpoint))
    wait_go = "while [ ! -e $BML_OUTPUT_DIR/../go ]; do sleep 0.05; done"
    jobs = [server.ok("create", job_body(name, f"{wait_go}; echo {name} > "
                                               f"$BML_OUTPUT_DIR/{name}.txt", **{
        "train_config.output_UrlSource": "BOS",
        "train_config.output_path": f"/down/runs/{name}"})) for name in ("kept", "deleted")]
    for job in jobs:
        server.wait(job, "RUNNING")
    stop_store()
    for job in jobs:
        (server.data_dir / "jobs" / str(job) / "go").write_text("")
    for job in jobs:
        info = server.wait(job, timeout=60)
        assert info["train_status"] == "SUCCESSED" and "not uploaded" in info["output_note"]
    server.ok("delete", {"id": jobs[1], "prjId": "p1"})
    gone_dir = server.data_dir / "jobs" / str(jobs[1])
    assert gone_dir.exists()  # its outputs are not delivered yet
    endpoint, stop_store = start_or_skip(tmp_path / "moto", port)  # back, and empty
    try:
        client_for(endpoint).create_bucket(Bucket="down")
        wait_for(lambda: "output_note" not in server.detail(jobs[0]), timeout=60)
        wait_for(lambda: not gone_dir.exists(), timeout=60)
        client = client_for(endpoint)
        for name in ("kept", "deleted"):
            body = client.get_object(Bucket="down", Key=f"runs/{name}/{name}.txt")["Body"]
            assert body.read() == f"{name}\n".encode()
        server.wait_log(f"deleted job {jobs[1]}: its outputs were delivered; its directory "
                        "is removed")
        assert lost(server, jobs, deleted=(jobs[1],)) == 0
    finally:
        stop_store()
    record("store down", "moto stopped while 2 jobs ran, started again (empty) later", 2,
           0, "both SUCCESSED with an output note; outputs delivered while the server ran, "
              "the deleted job's directory removed after its delivery")


def test_a_deleted_job_whose_store_stays_away_is_given_up(
        make_server: Callable[..., Server], tmp_path: Path) -> None:
    endpoint, stop_store = start_or_skip(tmp_path / "moto")
    client_for(endpoint).create_bucket(Bucket="away")
    server = make_server(config=FAST_RETRY.replace("\n", "\ngive_up_seconds = 2\n", 1)
                         + bos_config(endpoint))
    job = server.ok("create", job_body("away", "sleep 1; echo x > $BML_OUTPUT_DIR/x.txt", **{
        "train_config.output_UrlSource": "BOS", "train_config.output_path": "/away/run"}))
    server.wait(job, "RUNNING")
    stop_store()  # and never back
    assert "not uploaded" in server.wait(job, timeout=60)["output_note"]
    server.ok("delete", {"id": job, "prjId": "p1"})
    wait_for(lambda: not (server.data_dir / "jobs" / str(job)).exists(), timeout=30)
    server.wait_log(f"deleted job {job}: delivery given up after")
    assert lost(server, [job], deleted=(job,)) == 0
    record("store down for good", "moto stopped under a job that was then deleted", 1, 0,
           "SUCCESSED with an output note; after give_up_seconds its delivery was given "
           "up and its directory removed, the reason in the server log")


def test_a_full_output_disk_is_reported_and_delivered_once_there_is_room(
        tmp_path: Path) -> None:
    server = Server(tmp_path / "s", config=FAST_RETRY)
    tmpfs(server.pfs, "4m")
    try:
        server.start()
        job = server.create("full", "head -c 8000000 /dev/zero > $BML_OUTPUT_DIR/big.bin")
        info = server.wait(job, timeout=60)
        assert info["train_status"] == "FAILED"
        assert info["status_reason"] == "node 0 exited with code 1"
        assert info["output_note"].startswith(
            "outputs could not all be delivered: No space left on device")
        assert str(tmp_path) not in str(info)  # no host path
        (server.pfs / "out" / "full" / "big.bin").unlink()  # room made by hand
        wait_for(lambda: "output_note" not in server.detail(job), timeout=30)
        assert (server.pfs / "out" / "full" / "logs" / "job.log").exists()
        assert lost(server, [job]) == 0
        assert leftover_pids(server.data_dir) == []
        record("disk full on the output path", "a 4 MB tmpfs as PFS root, 8 MB written", 1,
               0, "the job FAILED with its exit code; the logs' delivery noted and done once "
                  "there was room, while the server ran")
    finally:
        server.stop()
        unmount(server.pfs)
