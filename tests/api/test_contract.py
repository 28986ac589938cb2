"""The wire contract seen from outside: envelopes, log_id, 404s, bodies, auth, the OpenAPI
document, name uniqueness under concurrency and the job quota."""
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from openapi_spec_validator import validate

from tests.support.server import BASE, Server, free_port, job_body

SK = "sk1-Zq7w-never-logged"
AUTH = f"""
[[auth.credentials]]
ak = "ak1"
sk = "{SK}"
projects = ["p1"]
"""
TOKEN_MESSAGES = {110: "Access token invalid or no longer valid", 111: "Access token expired"}


def post(server: Server, method: str, body: Any, **params: str) -> requests.Response:
    """A call with exactly the query parameters given (no default token)."""
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{server.url}{BASE}/{method}", params=params, data=data,
                         headers={"Content-Type": "application/json"}, timeout=30)


def token_of(server: Server, ak: str = "ak1", sk: str = SK) -> str:
    answer = requests.post(f"{server.url}/oauth/2.0/token", timeout=10, params={
        "grant_type": "client_credentials", "client_id": ak, "client_secret": sk})
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def is_error(payload: dict[str, Any], code: int, message: str) -> bool:
    return (set(payload) == {"error_code", "error_msg", "log_id"}
            and (payload["error_code"], payload["error_msg"]) == (code, message))


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the tests that store nothing and only read answers."""
    server = Server(Path(tmp_path_factory.mktemp("shared"))).start()
    yield server
    server.stop()


@pytest.fixture
def auth_server(make_server: Callable[..., Server]) -> Server:
    return make_server(config=AUTH)


# --- envelopes and log_id --------------------------------------------------------------

def test_a_success_answer_is_the_result_envelope(shared: Server) -> None:
    answer = shared.post("list", {"prjId": "p1"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    payload = answer.json()
    assert set(payload) == {"log_id", "result"}
    assert payload["result"] == {"total": 0, "items": []}


def test_an_error_answer_is_the_error_envelope_with_http_200(shared: Server) -> None:
    answer = shared.post("detail", {"id": 12345, "prjId": "p1"})
    assert answer.status_code == 200
    assert is_error(answer.json(), 406012, "job does not exist")


def test_log_id_is_a_positive_integer_fresh_per_request(shared: Server) -> None:
    ids = [shared.call("list", {"prjId": "p1"})["log_id"] for _ in range(5)]
    ids += [shared.call("detail", {"id": 1, "prjId": "p1"})["log_id"] for _ in range(5)]
    assert all(type(i) is int and i > 0 for i in ids), ids
    assert len(set(ids)) == len(ids)


def seen_in_log(server: Server, log_id: int) -> bool:
    deadline = time.monotonic() + 5
    while not re.search(rf"\b{log_id}\b", server.log_text()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize("method, body", [("create", b"not json"),
                                          ("detail", {"id": 999, "prjId": "p1"}),
                                          ("no-such-method", {"prjId": "p1"})])
def test_the_log_id_of_an_error_is_in_the_server_log(shared: Server, method: str,
                                                      body: Any) -> None:
    answer = shared.post(method, body).json()
    assert "error_code" in answer, answer
    assert seen_in_log(shared, answer["log_id"]), f"log_id {answer['log_id']} not in the log"


def test_the_log_id_of_a_success_is_in_the_server_log_at_debug(
        make_server: Callable[..., Server]) -> None:
    server = make_server(env={"BMLOCAL_LOG_LEVEL": "debug"})
    for method, body in (("list", {"prjId": "p1"}), ("create", job_body("logged"))):
        answer = server.post(method, body).json()
        assert "result" in answer, answer
        assert seen_in_log(server, answer["log_id"]), f"{method}: log_id not in the log"


def test_an_unknown_log_level_is_refused_with_the_ones_known(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BMLOCAL_")}
    done = subprocess.run([sys.executable, "-m", "bmlocal.cli", "serve", "--data-dir",
                           str(tmp_path), "--port", str(free_port())], capture_output=True,
                          text=True, timeout=60, env={**env, "BMLOCAL_LOG_LEVEL": "chatty"})
    assert done.returncode == 2
    assert "BMLOCAL_LOG_LEVEL=chatty" in done.stderr and "debug, info" in done.stderr


def test_a_saturated_server_says_so_once_a_minute_not_at_every_request(
        make_server: Callable[..., Server]) -> None:
    server = make_server(env={"BMLOCAL_THREADS": "1"})  # 8 clients: requests must queue

    def client() -> None:
        with requests.Session() as session:
            for _ in range(40):
                session.post(f"{server.url}{BASE}/list", params={"access_token": "t"},
                             json={"prjId": "p1"}, timeout=30).raise_for_status()
    clients = [threading.Thread(target=client) for _ in range(8)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    log = server.wait_log("Task queue depth is")
    assert log.count("Task queue depth is") == 1, log


# --- unknown paths and methods -----------------------------------------------------------

@pytest.mark.parametrize("path", [f"{BASE}/nothing", f"{BASE}/", f"{BASE}/create/more",
                                  "/", "/rpc/2.0/other/create", f"{BASE}/CREATE"])
def test_an_unknown_path_is_404_with_the_code_3_envelope(shared: Server, path: str) -> None:
    answer = requests.post(f"{shared.url}{path}", params={"access_token": "t"}, timeout=10,
                           json={"prjId": "p1"})
    assert answer.status_code == 404
    assert is_error(answer.json(), 3, "Unsupported openapi method")


@pytest.mark.parametrize("method", ["create", "stop", "delete", "list", "detail"])
def test_get_on_a_method_is_404_with_the_code_3_envelope(shared: Server, method: str) -> None:
    answer = requests.get(f"{shared.url}{BASE}/{method}", params={"access_token": "t"},
                          timeout=10)
    assert answer.status_code == 404
    assert is_error(answer.json(), 3, "Unsupported openapi method")


# --- bodies ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["create", "list", "detail"])
@pytest.mark.parametrize("raw", [b"", b"not json", b"[]", b'[{"prjId": "p1"}]', b'"p1"',
                                 b"null", b"42", b'{"prjId": "p1"', b"\xff\xfe{}"])
def test_a_body_that_is_not_a_json_object_is_406001_body(shared: Server, method: str,
                                                          raw: bytes) -> None:
    assert is_error(shared.call(method, raw), 406001, "param[body] invalid")


@pytest.mark.parametrize("method", ["create", "list"])
def test_a_body_with_a_lone_surrogate_is_406001_body(shared: Server, method: str) -> None:
    # valid JSON syntax, but "\ud800" is no character: it can be neither stored nor answered
    raw = json.dumps(job_body("job-\ud800", "true"))
    assert is_error(shared.call(method, raw), 406001, "param[body] invalid")


def test_a_2_mb_body_answers_an_envelope_not_a_413_page(shared: Server) -> None:
    # Connection: close, because an idle keep-alive connection stalls the server's shutdown
    # (see the report); the answer itself is what this test is about.
    answer = requests.post(f"{shared.url}{BASE}/create", params={"access_token": "t"},
                           data=b'{"prjId": "' + b"x" * (2 << 20) + b'"}', timeout=30,
                           headers={"Content-Type": "application/json", "Connection": "close"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert is_error(answer.json(), 406001, "param[body] invalid")


@pytest.mark.parametrize("method", ["create", "stop", "delete", "list", "detail"])
@pytest.mark.parametrize("body", [{}, {"prjId": ""}, {"prjId": 1}, {"prjId": None},
                                  {"prjId": ["p1"]}, {"id": 1}])
def test_a_missing_or_bad_prjid_is_406001(shared: Server, method: str,
                                          body: dict[str, Any]) -> None:
    assert is_error(shared.call(method, body), 406001, "param[prjId] invalid")


@pytest.mark.parametrize("method", ["stop", "delete", "detail"])
@pytest.mark.parametrize("job_id", ["missing", "1", True, False, 1.0, None, [1], {"id": 1}])
def test_a_missing_or_non_integer_id_is_406001(shared: Server, method: str,
                                               job_id: Any) -> None:
    body = {"prjId": "p1"} if job_id == "missing" else {"id": job_id, "prjId": "p1"}
    assert is_error(shared.call(method, body), 406001, "param[id] invalid")


@pytest.mark.parametrize("method", ["stop", "delete", "detail"])
@pytest.mark.parametrize("job_id", [0, -1, 987654, 2**63, -(2**70)])
def test_an_unknown_id_is_406012(shared: Server, method: str, job_id: int) -> None:
    assert is_error(shared.call(method, {"id": job_id, "prjId": "p1"}), 406012,
                    "job does not exist")


def test_a_job_of_another_project_is_406012(server: Server) -> None:
    job_id = server.create("mine", "true")
    assert is_error(server.call("detail", {"id": job_id, "prjId": "p2"}), 406012,
                    "job does not exist")


# --- list ------------------------------------------------------------------------------

def test_list_defaults_to_the_20_newest(server: Server) -> None:
    ids = [server.create(f"job-{i}", "true") for i in range(21)]
    result = server.ok("list", {"prjId": "p1"})
    assert result["total"] == 21
    assert [item["id"] for item in result["items"]] == ids[::-1][:20]


def test_list_start_and_num_page_through_newest_first(server: Server) -> None:
    ids = [server.create(f"job-{i}", "true") for i in range(5)]
    result = server.ok("list", {"prjId": "p1", "start": 1, "num": 2})
    assert [item["id"] for item in result["items"]] == [ids[3], ids[2]]
    assert result["total"] == 5


def test_list_num_100_is_the_largest_page(server: Server) -> None:
    for i in range(101):
        server.create(f"job-{i}", "true")
    result = server.ok("list", {"prjId": "p1", "num": 100})
    assert (result["total"], len(result["items"])) == (101, 100)
    assert is_error(server.call("list", {"prjId": "p1", "num": 1000}), 406001,
                    "param[num] invalid")


def test_a_list_item_has_the_contract_fields(server: Server) -> None:
    server.create("listed", "true")
    (item,) = server.ok("list", {"prjId": "p1"})["items"]
    assert set(item) == {"id", "name", "description", "train_status", "run_time",
                         "resource_type", "resource_name", "framework", "create_time"}


@pytest.mark.parametrize("field, value", [("start", -1), ("num", -1), ("start", "0"),
                                          ("num", True), ("num", 1.5), ("num", 101)])
def test_a_bad_start_or_num_is_406001(shared: Server, field: str, value: Any) -> None:
    assert is_error(shared.call("list", {"prjId": "p1", field: value}), 406001,
                    f"param[{field}] invalid")


# --- auth ------------------------------------------------------------------------------

@pytest.mark.parametrize("http_method", ["POST", "GET"])
def test_the_token_endpoint_issues_a_token_that_works(auth_server: Server,
                                                      http_method: str) -> None:
    answer = requests.request(http_method, f"{auth_server.url}/oauth/2.0/token", timeout=10,
                              params={"grant_type": "client_credentials", "client_id": "ak1",
                                      "client_secret": SK})
    assert answer.status_code == 200
    payload = answer.json()
    assert set(payload) == {"access_token", "expires_in", "refresh_token", "scope",
                            "session_key", "session_secret"}
    assert payload["expires_in"] == 2592000
    assert payload["scope"] == "public brain_all_scope"
    listed = post(auth_server, "list", {"prjId": "p1"}, access_token=payload["access_token"])
    assert listed.json()["result"]["total"] == 0


@pytest.mark.parametrize("params, status, expected", [
    ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": SK}, 401,
     {"error": "invalid_client", "error_description": "unknown client id"}),
    ({"grant_type": "client_credentials", "client_secret": SK}, 401,
     {"error": "invalid_client", "error_description": "unknown client id"}),
    ({"grant_type": "client_credentials", "client_id": "ak1", "client_secret": "wrong"}, 401,
     {"error": "invalid_client", "error_description": "Client authentication failed"}),
    ({"grant_type": "client_credentials", "client_id": "ak1"}, 401,
     {"error": "invalid_client", "error_description": "Client authentication failed"}),
    ({"grant_type": "password", "client_id": "ak1", "client_secret": SK}, 400,
     {"error": "unsupported_grant_type"}),
    ({"client_id": "ak1", "client_secret": SK}, 400, {"error": "unsupported_grant_type"}),
])
def test_the_token_endpoint_refuses_bad_requests(auth_server: Server, params: dict,
                                                 status: int, expected: dict) -> None:
    answer = requests.post(f"{auth_server.url}/oauth/2.0/token", params=params, timeout=10)
    assert answer.status_code == status
    assert answer.json() == expected


@pytest.mark.parametrize("params", [{}, {"access_token": ""}, {"access_token": "24.forged"}])
def test_a_missing_or_unknown_token_is_110(auth_server: Server, params: dict) -> None:
    payload = post(auth_server, "list", {"prjId": "p1"}, **params).json()
    assert is_error(payload, 110, TOKEN_MESSAGES[110])


def test_a_token_used_on_a_project_it_may_not_use_is_406037(auth_server: Server) -> None:
    token = token_of(auth_server)
    payload = post(auth_server, "list", {"prjId": "p2"}, access_token=token).json()
    assert is_error(payload, 406037, "no operation permission")


def test_an_expired_token_is_111(make_server: Callable[..., Server]) -> None:
    server = make_server(config=AUTH + "\n[auth]\ntoken_ttl_seconds = 1\n")
    token = token_of(server)
    assert "result" in post(server, "list", {"prjId": "p1"}, access_token=token).json()
    time.sleep(1.5)
    payload = post(server, "list", {"prjId": "p1"}, access_token=token).json()
    assert is_error(payload, 111, TOKEN_MESSAGES[111])


@pytest.mark.parametrize("body", [b"not json", b"[]", {}, {"prjId": "p2"},
                                  {"prjId": "p1", "id": "x"}])
def test_the_token_is_checked_before_the_body(auth_server: Server, body: Any) -> None:
    for method in ("create", "detail"):
        payload = post(auth_server, method, body, access_token="unknown").json()
        assert is_error(payload, 110, TOKEN_MESSAGES[110])


@pytest.mark.parametrize("params", [{}, {"access_token": ""}, {"access_token": "whatever"}])
def test_without_credentials_any_token_is_accepted(shared: Server, params: dict) -> None:
    assert "result" in post(shared, "list", {"prjId": "p1"}, **params).json()


def test_serving_on_all_addresses_without_credentials_is_refused(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bmlocal.cli", "serve", "--host", "0.0.0.0",
         "--port", str(free_port()), "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    said = done.stdout + done.stderr
    assert "0.0.0.0" in said and "credentials" in said, said


def test_serving_on_all_addresses_with_credentials_starts(
        make_server: Callable[..., Server]) -> None:
    server = make_server(config=AUTH, extra_args=["--host", "0.0.0.0"])
    payload = post(server, "list", {"prjId": "p1"}, access_token=token_of(server)).json()
    assert payload["result"]["total"] == 0


def test_the_secret_key_is_never_logged_or_answered(auth_server: Server) -> None:
    answers = [requests.get(f"{auth_server.url}/oauth/2.0/token", timeout=10, params={
        "grant_type": "client_credentials", "client_id": "ak1", "client_secret": SK})]
    token = answers[0].json()["access_token"]
    answers.append(post(auth_server, "create", job_body("secretive", "true"),
                        access_token=token))
    answers.append(post(auth_server, "create", job_body("", "true"), access_token=token))
    answers.append(post(auth_server, "create", job_body("x", "true", prjId="p2"),
                        access_token=token))
    assert "result" in answers[1].json()
    assert answers[2].json()["error_code"] == 406015
    assert all(SK not in answer.text for answer in answers)
    assert SK not in auth_server.settled_log()


# --- the OpenAPI document ----------------------------------------------------------------

def test_the_openapi_document_is_valid_openapi_3_with_the_five_calls(shared: Server) -> None:
    answer = requests.get(f"{shared.url}/openapi.json", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    document = answer.json()
    validate(document)
    assert document["openapi"].startswith("3.")
    for method in ("create", "stop", "delete", "list", "detail"):
        assert "post" in document["paths"][f"{BASE}/{method}"]


# --- names and quotas --------------------------------------------------------------------

def test_concurrent_creates_with_one_name_give_exactly_one_job(server: Server) -> None:
    barrier = threading.Barrier(16)
    payloads: list[dict[str, Any]] = []

    def create() -> None:
        barrier.wait()
        payloads.append(server.call("create", job_body("same-name", "true")))

    threads = [threading.Thread(target=create) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    ids = [p["result"] for p in payloads if "result" in p]
    refusals = [p for p in payloads if is_error(p, 406026, "job name already exists")]
    assert (len(ids), len(refusals)) == (1, 15), payloads
    result = server.ok("list", {"prjId": "p1"})
    assert result["total"] == 1 and result["items"][0]["id"] == ids[0]


def test_a_name_may_be_reused_in_another_project(server: Server) -> None:
    server.create("shared", "true")
    assert server.ok("create", job_body("shared", "true", prjId="p2")) > 0


def test_the_job_quota_of_a_project_is_406035(make_server: Callable[..., Server]) -> None:
    server = make_server(config="[quotas]\nmax_jobs_per_project = 2\n")
    server.create("one", "true")
    server.create("two", "true")
    assert server.error("create", job_body("three", "true")) == (
        406035, "the job quantity has reached the upper limit")
    assert server.ok("list", {"prjId": "p1"})["total"] == 2
    assert server.ok("create", job_body("other", "true", prjId="p2")) > 0
