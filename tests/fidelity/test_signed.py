"""bce-auth-v1 signed requests on the wire, signed by the cloud's own SDK (bce-python-sdk):
its HTTP client unmodified, and its signer driven by hand for the cases a client gets wrong."""
import copy
import json
import time
from typing import Any

import pytest
import requests
from baidubce import bce_client_configuration, utils
from baidubce.auth import bce_v1_signer
from baidubce.auth.bce_credentials import BceCredentials
from baidubce.http import bce_http_client, handler

from tests.fidelity.conftest import AK, OTHER_AK, SK
from tests.support.server import BASE, Server, job_body

IAM_FAILED = {"error_code": 14, "error_msg": "IAM Certification failed"}


def sdk_call(server: Server, method: str, body: dict[str, Any], ak: str = AK,
             sk: str = SK) -> dict[str, Any]:
    """A call made by the SDK's own HTTP client, which signs it (host with the port)."""
    config = copy.deepcopy(bce_client_configuration.DEFAULT_CONFIG)
    config.merge_non_none_values(bce_client_configuration.BceClientConfiguration(
        credentials=BceCredentials(ak, sk), endpoint=f"127.0.0.1:{server.port}"))
    response = bce_http_client.send_request(
        config, bce_v1_signer.sign, [handler.parse_error, handler.parse_json], b"POST",
        f"{BASE}/{method}".encode(), json.dumps(body).encode(),
        {b"Content-Type": b"application/json"}, {})
    assert response.status_code == 200
    return json.loads(response.raw_data)


def signed_post(server: Server, method: str, body: dict[str, Any], *, ak: str = AK,
                sk: str = SK, timestamp: int | None = None, expiration: int = 1800,
                date: str | None = None, signed_host: str | None = None,
                sign_path: str | None = None, params: dict[str, str] | None = None,
                sent_params: dict[str, str] | None = None) -> requests.Response:
    """A request signed by the SDK's signer over host and x-bce-date, sent with requests."""
    now = int(time.time()) if timestamp is None else timestamp
    host = f"127.0.0.1:{server.port}"
    bce_date = date or utils.get_canonical_time(now).decode()
    headers = {b"host": (signed_host or host).encode(), b"x-bce-date": bce_date.encode()}
    authorization = bce_v1_signer.sign(
        BceCredentials(ak, sk), b"POST", (sign_path or f"{BASE}/{method}").encode(), headers,
        {k.encode(): v.encode() for k, v in (params or {}).items()}, timestamp=now,
        expiration_in_seconds=expiration, headers_to_sign=[b"host", b"x-bce-date"])
    return requests.post(f"{server.url}{BASE}/{method}", data=json.dumps(body), timeout=30,
                         params=sent_params or params, headers={"Content-Type": "application/json",
                                                 "x-bce-date": bce_date,
                                                 "Authorization": authorization.decode()})


def refused(answer: requests.Response) -> bool:
    payload = answer.json()
    return answer.status_code == 200 and {k: payload.get(k) for k in IAM_FAILED} == IAM_FAILED


def test_the_sdks_own_client_creates_and_reads_a_job(keyed: Server) -> None:
    created = sdk_call(keyed, "create", job_body("signed-sdk"))
    assert isinstance(created["result"], int), created
    detail = sdk_call(keyed, "detail", {"id": created["result"], "prjId": "p1"})
    assert detail["result"]["name"] == "signed-sdk"


def test_a_signature_over_the_host_without_its_port_is_accepted(keyed: Server) -> None:
    answer = signed_post(keyed, "list", {"prjId": "p1"}, signed_host="127.0.0.1")
    assert "result" in answer.json(), answer.text


def test_query_parameters_are_part_of_the_signature(keyed: Server) -> None:
    ok = signed_post(keyed, "list", {"prjId": "p1"}, params={"x": "1", "note": "a b/é~*"})
    assert "result" in ok.json(), ok.text
    tampered = signed_post(keyed, "list", {"prjId": "p1"}, params={"x": "1"},
                           sent_params={"x": "2"})
    assert refused(tampered), tampered.text


@pytest.mark.parametrize("change", [
    {"sk": "not-the-secret"},
    {"ak": "ak-nobody-has"},
    {"sign_path": f"{BASE}/detail"},  # signed for another call
    {"timestamp": -3600, "expiration": 1800},  # past its expiration
    {"timestamp": 20 * 60},  # 20 minutes ahead of the server
    {"date": -20 * 60},  # a stale date
])
def test_a_bad_signature_or_date_answers_14(keyed: Server, change: dict[str, Any]) -> None:
    # times are offsets from the test's own run, not from collection: a long suite would
    # otherwise bring "20 minutes ahead" within the allowed skew
    now = int(time.time())
    if "timestamp" in change:
        change = {**change, "timestamp": now + change["timestamp"]}
    if "date" in change:
        change = {**change, "date": utils.get_canonical_time(now + change["date"]).decode()}
    assert refused(signed_post(keyed, "list", {"prjId": "p1"}, **change))


@pytest.mark.parametrize("authorization", [
    "bce-auth-v1/", "bce-auth-v1/ak/not-a-time/1800//abc",
    f"bce-auth-v1/{AK}/2026-01-01T00:00:00Z/-5//abc", "bce-auth-v1/" + "x/" * 500,
])
def test_a_malformed_authorization_answers_14_never_5xx(keyed: Server,
                                                         authorization: str) -> None:
    answer = requests.post(f"{keyed.url}{BASE}/list", data='{"prjId": "p1"}', timeout=30,
                           headers={"Authorization": authorization})
    assert refused(answer), answer.text


def test_a_long_expiration_still_holds_within_it(keyed: Server) -> None:
    earlier = int(time.time()) - 3600
    answer = signed_post(keyed, "list", {"prjId": "p1"}, timestamp=earlier, expiration=7200,
                         date=utils.get_canonical_time().decode())
    assert "result" in answer.json(), answer.text


def test_a_signed_key_is_held_to_its_projects(keyed: Server) -> None:
    answer = signed_post(keyed, "list", {"prjId": "p2"})
    assert answer.json()["error_code"] == 406037
    other = sdk_call(keyed, "list", {"prjId": "p1"}, ak=OTHER_AK, sk="sk-other-never-logged")
    assert other["error_code"] == 406037


def test_a_token_wins_over_a_signature_when_both_are_sent(keyed: Server) -> None:
    answer = requests.post(f"{keyed.url}{BASE}/list", params={"access_token": "bogus"},
                           data='{"prjId": "p1"}', timeout=30,
                           headers={"Authorization": "bce-auth-v1/x/y/z//w"})
    assert answer.json()["error_code"] == 110


def test_without_credentials_any_signed_request_is_accepted(open_server: Server) -> None:
    answer = signed_post(open_server, "list", {"prjId": "p1"}, ak="anyone", sk="anything")
    assert "result" in answer.json(), answer.text


def test_no_secret_or_signature_reaches_the_server_log(keyed: Server) -> None:
    answer = signed_post(keyed, "list", {"prjId": "p1"}, sk="wrong-secret-xyz")
    signature = answer.request.headers["Authorization"].rsplit("/", 1)[-1]
    log = keyed.settled_log()
    assert SK not in log and "wrong-secret-xyz" not in log and signature not in log
