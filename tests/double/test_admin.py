"""The admin calls: jobs by hand, faults on demand, the record of calls, reset, where
they are served, and the gate every cloud call passes."""
import time
from typing import Iterator

import pytest
import requests

from bmlocal.client import BmlError, Client
from bmlocal.testing import BmlServer
from tests.ops.test_metrics import scrape, value
from tests.support.server import BASE, job_body

ADMIN = "/bmlocal/admin"


@pytest.fixture(scope="module")
def server() -> Iterator[BmlServer]:
    with BmlServer() as server:
        yield server


@pytest.fixture
def sim(server: BmlServer) -> Iterator[BmlServer]:
    server.admin.reset()
    yield server


# --- jobs by hand ------------------------------------------------------------------------

def test_hold_then_advance_through_the_transition_table(sim: BmlServer) -> None:
    sim.admin.hold()
    job_id = sim.client.create(job_body("held"))
    assert sim.client.wait(job_id, "p1", timeout=5, until="RUNNING")["train_status"] == \
        "RUNNING"
    time.sleep(0.2)
    assert sim.client.detail(job_id, "p1")["train_status"] == "RUNNING"  # held
    done = sim.admin.advance(job_id, "FAILED", "out of memory on node 0")
    assert done == {"id": job_id, "train_status": "FAILED",
                    "status_reason": "out of memory on node 0"}
    with pytest.raises(BmlError) as refused:
        sim.admin.advance(job_id, "RUNNING")
    assert refused.value.error_code == 406027 and refused.value.http_status == 409
    assert "FAILED -> RUNNING is not an allowed transition" in refused.value.error_msg


def test_advance_to_successed_and_stopped(sim: BmlServer) -> None:
    sim.admin.hold()
    first, second = (sim.client.create(job_body(n)) for n in ("one", "two"))
    for job_id in (first, second):
        sim.client.wait(job_id, "p1", timeout=5, until="RUNNING")
    assert sim.admin.advance(first, "SUCCESSED")["status_reason"] == \
        "every node exited with code 0"
    assert sim.admin.advance(second, "STOPPED", "preempted")["train_status"] == "STOPPED"
    assert sim.client.detail(second, "p1")["status_reason"] == "preempted"


def test_fail_a_pending_job(sim: BmlServer) -> None:
    sim.admin.rule(name="^waits$", pending_seconds=60)
    job_id = sim.client.create(job_body("waits"))
    time.sleep(0.1)
    failed = sim.admin.fail(job_id, "image pull failed")
    assert (failed["train_status"], failed["status_reason"]) == ("FAILED", "image pull failed")
    again = sim.client.create(job_body("after"))  # its resources came back
    assert sim.client.wait(again, "p1", timeout=5)["train_status"] == "SUCCESSED"


def test_bad_advances_name_what_is_wrong(sim: BmlServer) -> None:
    job_id = sim.client.create(job_body("quick"))
    sim.client.wait(job_id, "p1", timeout=5)
    with pytest.raises(BmlError) as unknown:
        sim.admin.advance(job_id, "DONE")
    assert unknown.value.error_code == 406001 and "param[status]" in unknown.value.error_msg
    with pytest.raises(BmlError) as missing:
        sim.admin.advance(10**9, "FAILED")
    assert missing.value.error_code == 406012 and missing.value.http_status == 404
    answer = requests.post(f"{sim.url}{ADMIN}/jobs/{job_id}/advance",
                           json={"status": "FAILED", "colour": "red"}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error_msg"] == "param[colour] invalid: unknown key"
    with pytest.raises(BmlError) as unruly:
        sim.admin.rule(name="x", exit_code=0, status="FAILED", speed=3)
    assert "param[speed] invalid: unknown key" in unruly.value.error_msg


# --- faults --------------------------------------------------------------------------------

def test_next_calls_answer_an_error_code(sim: BmlServer) -> None:
    sim.admin.fail_next("create", 406035, times=2)
    for _ in range(2):
        with pytest.raises(BmlError) as full:
            sim.client.create(job_body("blocked"))
        assert full.value.error_code == 406035
        assert full.value.error_msg == "the job quantity has reached the upper limit"
    assert sim.client.create(job_body("blocked")) > 0  # nothing was created before
    assert sim.admin.faults() == []


def test_an_expired_token_is_renewed_by_the_client(sim: BmlServer) -> None:
    client = Client(sim.url, ak="any", sk="any")
    first = client.token()
    sim.admin.fail_next("list", 111)
    assert client.list("p1")["total"] == 0
    assert client.token() != first
    assert [c["operation"] for c in sim.admin.calls()] == ["token", "list", "token", "list"]


def test_a_delay_and_a_dropped_connection(sim: BmlServer) -> None:
    sim.admin.delay_next("detail", 0.3)
    job_id = sim.client.create(job_body("slowly"))
    started = time.monotonic()
    sim.client.detail(job_id, "p1")
    assert time.monotonic() - started >= 0.3
    sim.admin.drop_next("detail")
    with pytest.raises(BmlError) as dropped:
        sim.client.detail(job_id, "p1")
    assert dropped.value.error_code is None and "no answer" in dropped.value.error_msg
    assert sim.client.detail(job_id, "p1")["id"] == job_id  # the next call is served
    assert [c["fault"] for c in sim.admin.calls("detail")] == [
        "delay 0.3 s", "connection dropped", None]


def test_bad_faults_name_the_field(sim: BmlServer) -> None:
    for fields, named in ((dict(operation="creat", error_code=1), "param[operation]"),
                          (dict(operation="list", error_code=1, drop=True), "exclude"),
                          (dict(operation="list"), "give error_code"),
                          (dict(operation="list", error_code=1, times=0), "param[times]"),
                          (dict(operation="token", error_code=110), "token")):
        answer = requests.post(f"{sim.url}{ADMIN}/faults", json=fields, timeout=5)
        assert answer.status_code == 400 and answer.json()["error_code"] == 406001
        assert named in answer.json()["error_msg"]
    assert sim.admin.faults() == []


# --- the record and reset ------------------------------------------------------------------

def test_the_record_keeps_bodies_and_answers_without_secrets(sim: BmlServer) -> None:
    client = Client(sim.url, ak="AK1", sk="the-secret")
    body = job_body("recorded")
    job_id = client.create(body)
    token_call, create_call = sim.admin.calls()
    assert token_call["body"] == {"grant_type": "client_credentials", "client_id": "AK1",
                                  "client_secret": "***"}
    assert token_call["answer"]["access_token"] == "***"
    assert create_call["body"] == body and create_call["answer"]["result"] == job_id
    assert create_call["http_status"] == 200 and create_call["time"] <= time.time()
    assert "the-secret" not in str(sim.admin.calls())
    sim.admin.clear_calls()
    assert sim.admin.calls() == []


def test_reset_empties_jobs_calls_faults_rules_and_hold(sim: BmlServer) -> None:
    sim.admin.hold()
    sim.admin.rule(name="^x", status="FAILED")
    sim.admin.fail_next("stop", 406013)
    old = [sim.client.create(job_body(f"j{i}")) for i in range(20)]
    answer = sim.admin.reset()
    assert answer["jobs_removed"] == 20 and answer["seconds"] < 1
    assert sim.admin.calls() == [] and sim.admin.faults() == [] and sim.admin.rules() == []
    assert sim.client.list("p1")["total"] == 0
    new = sim.client.create(job_body("x1"))  # not held, no rule: SUCCESSED at once
    assert new > max(old)  # ids are not reused
    assert sim.client.wait(new, "p1", timeout=5)["train_status"] == "SUCCESSED"
    with pytest.raises(BmlError) as gone:
        sim.client.detail(old[0], "p1")
    assert gone.value.error_code == 406012


def test_reset_kills_real_jobs() -> None:
    with BmlServer(executor="process") as real:
        job_id = real.client.create(job_body("sleeper", "sleep 600"))
        real.client.wait(job_id, "p1", timeout=30, until="RUNNING")
        handle = real.client.logs(job_id, "p1", file="job.log")["content"]
        assert "RUNNING" in handle
        pids = _pids_under(real.data_dir)
        assert pids, "the job's processes run"
        real.admin.reset()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in pids)
        assert real.client.list("p1")["total"] == 0


def test_a_stopped_server_leaves_no_fork_server() -> None:
    real = BmlServer(executor="process").start()
    job_id = real.client.create(job_body("quick", "true"))
    real.client.wait(job_id, "p1", timeout=30)
    forkserver = real._runtime.scheduler.executors.process._forkserver._process  # noqa: SLF001
    assert forkserver is not None and forkserver.poll() is None
    real.stop()
    assert forkserver.poll() is not None  # ended and reaped, not left to the garbage collector


def _pids_under(data_dir: object) -> list[int]:
    from tests.conftest import leftover_pids
    return leftover_pids(data_dir)  # type: ignore[arg-type]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


# --- where the admin calls are served ------------------------------------------------------

CREDENTIALS = """
[[auth.credentials]]
ak = "admin"
sk = "admin-sk"
projects = ["*"]
[[auth.credentials]]
ak = "user"
sk = "user-sk"
projects = ["p1"]
"""


def test_admin_calls_need_a_key_for_every_project_where_credentials_are_set() -> None:
    with BmlServer(config=CREDENTIALS, ak="admin", sk="admin-sk") as guarded:
        anonymous = requests.post(f"{guarded.url}{ADMIN}/reset", timeout=5)
        assert anonymous.status_code == 401 and anonymous.json()["error_code"] == 110
        user = Client(guarded.url, ak="user", sk="user-sk")
        job_id = user.create(job_body("mine"))
        answer = requests.post(f"{guarded.url}{ADMIN}/reset", timeout=5,
                               params={"access_token": user.token()})
        assert answer.status_code == 403 and answer.json()["error_code"] == 406037
        user.wait(job_id, "p1", timeout=5)
        assert guarded.admin.reset()["jobs_removed"] == 1


def test_the_admin_calls_are_not_on_the_cloud_base_path_and_are_documented(
        sim: BmlServer) -> None:
    from openapi_spec_validator import validate
    document = requests.get(f"{sim.url}/openapi.json", timeout=5).json()
    validate(document)
    admin_paths = [p for p in document["paths"] if p.startswith(ADMIN)]
    assert f"{ADMIN}/reset" in admin_paths and f"{ADMIN}/faults" in admin_paths
    answer = requests.post(f"{sim.url}/rpc/2.0/easydl/pro/remotetrain/reset", json={},
                           timeout=5)
    assert answer.status_code == 404 and answer.json()["error_code"] == 3


# --- the gate every cloud call passes (bmlocal/api/gate.py) ----------------------------

def call(server: BmlServer, method: str, data: object) -> requests.Response:
    return requests.post(f"{server.url}{BASE}/{method}", params={"access_token": "t"},
                         data=data, headers={"Content-Type": "application/json"}, timeout=10)


def test_a_chunked_body_is_read_answered_and_recorded(sim: BmlServer) -> None:
    job_id = sim.client.create(job_body("chunked"))
    sim.admin.clear_calls()
    parts = [b'{"id": ', str(job_id).encode(), b', "prjId": "p1"}']
    answer = call(sim, "detail", iter(parts))  # a generator: Transfer-Encoding: chunked
    assert answer.json()["result"]["id"] == job_id
    (recorded,) = sim.admin.calls("detail")
    assert recorded["body"] == {"id": job_id, "prjId": "p1"}
    assert recorded["answer"]["result"]["name"] == "chunked"


def test_a_body_over_the_limit_answers_406001_and_is_recorded_without_it(
        sim: BmlServer) -> None:
    answer = call(sim, "create", b'{"name": "' + b"x" * (1 << 20) + b'"}')
    assert answer.status_code == 200
    assert answer.json()["error_code"] == 406001
    assert answer.json()["error_msg"] == "param[body] invalid"
    (recorded,) = sim.admin.calls("create")
    assert recorded["body"] == "" and recorded["answer"]["error_code"] == 406001


def test_a_fault_is_answered_counted_and_recorded_under_its_operation(
        sim: BmlServer) -> None:
    before = value(scrape(sim), "bmlocal_api_requests_total", operation="list",
                   code="406035")
    sim.admin.fail_next("list", 406035, times=2, error_msg="full")
    for _ in range(2):
        answer = call(sim, "list", b'{"prjId": "p1"}')
        assert answer.status_code == 200 and answer.headers["Content-Type"] == \
            "application/json"
        assert answer.json()["error_code"] == 406035 and answer.json()["error_msg"] == "full"
        assert answer.json()["log_id"] > 0
    assert call(sim, "list", b'{"prjId": "p1"}').json()["result"]["total"] == 0
    after = scrape(sim)
    assert value(after, "bmlocal_api_requests_total", operation="list",
                 code="406035") == before + 2
    assert value(after, "bmlocal_api_request_duration_seconds_count", operation="list",
                 code="406035") == before + 2
    assert [c["fault"] for c in sim.admin.calls("list")] == ["error_code 406035"] * 2 + [None]
    assert [c["body"] for c in sim.admin.calls("list")] == [{"prjId": "p1"}] * 3


def test_a_dropped_token_call_keeps_its_query_in_the_record(sim: BmlServer) -> None:
    sim.admin.drop_next("token")
    with pytest.raises(requests.ConnectionError):
        requests.post(f"{sim.url}/oauth/2.0/token", timeout=10, params={
            "grant_type": "client_credentials", "client_id": "ak", "client_secret": "sk"})
    (recorded,) = sim.admin.calls("token")
    assert recorded["fault"] == "connection dropped"
    assert recorded["body"] == {"grant_type": "client_credentials", "client_id": "ak",
                                "client_secret": "***"}
