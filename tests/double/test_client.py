"""bmlocal.client against a real `bmlocal serve` process: the calls, tokens and errors."""
import time
from typing import Callable

import pytest

from bmlocal.client import BmlError, Client, WaitTimeout
from tests.support.server import Server, free_port, job_body

CREDENTIALS = """
[auth]
token_ttl_seconds = {ttl}
[[auth.credentials]]
ak = "ak1"
sk = "sk1"
projects = ["p1"]
"""


def test_the_calls_of_one_job(server: Server) -> None:
    with Client(server.url) as client:
        job_id = client.create(job_body("one", "python -c 'print(42)'"))
        final = client.wait(job_id, "p1", timeout=30)
        assert final["train_status"] == "SUCCESSED"
        assert final["status_reason"] == "every node exited with code 0"
        assert client.logs(job_id, "p1") == {"file": "node-0.log", "offset": 3,
                                             "content": "42\n"}
        page = client.list("p1", num=5)
        assert page["total"] == 1 and page["items"][0]["id"] == job_id
        with pytest.raises(BmlError) as stopped:
            client.stop(job_id, "p1")
        assert stopped.value.error_code == 406027 and stopped.value.log_id > 0
        assert stopped.value.error_msg == "job status exception"
        assert client.delete(job_id, "p1") is True
        with pytest.raises(BmlError) as gone:
            client.detail(job_id, "p1")
        assert gone.value.error_code == 406012 and gone.value.operation == "detail"


def test_stop_and_wait_until_running(server: Server) -> None:
    client = Client(server.url)
    job_id = client.create(job_body("long", "sleep 60"))
    assert client.wait(job_id, "p1", timeout=30, until="RUNNING")["train_status"] == "RUNNING"
    with pytest.raises(WaitTimeout) as late:
        client.wait(job_id, "p1", timeout=0.2)
    assert "RUNNING" in late.value.error_msg and late.value.error_code is None
    assert client.stop(job_id, "p1") is True
    assert client.wait(job_id, "p1", timeout=30)["train_status"] == "STOPPED"


def test_a_token_is_fetched_renewed_and_retried(make_server: Callable[..., Server]) -> None:
    server = make_server(config=CREDENTIALS.format(ttl=1))
    client = Client(server.url, ak="ak1", sk="sk1")
    first = client.token()
    assert first and client.list("p1")["total"] == 0
    time.sleep(1.1)  # expired: renewed before the call
    assert client.list("p1")["total"] == 0 and client.token() != first
    # a token the server does not know: 110, a new one is fetched and the call tried again
    stale = Client(server.url, ak="ak1", sk="sk1", token="24.unknown")
    assert stale.list("p1")["total"] == 0 and stale.token() != "24.unknown"
    with pytest.raises(BmlError) as refused:  # no AK/SK: nothing to renew with
        Client(server.url, token="24.unknown").list("p1")
    assert refused.value.error_code == 110
    with pytest.raises(BmlError) as denied:
        client.list("other")
    assert denied.value.error_code == 406037


def test_a_refused_token_and_no_server() -> None:
    with pytest.raises(BmlError) as nobody:
        Client(f"http://127.0.0.1:{free_port()}", timeout=2).list("p1")
    assert nobody.value.error_code is None and "no answer" in nobody.value.error_msg


def test_a_wrong_secret(make_server: Callable[..., Server]) -> None:
    server = make_server(config=CREDENTIALS.format(ttl=60))
    with pytest.raises(BmlError) as refused:
        Client(server.url, ak="ak1", sk="wrong").list("p1")
    assert refused.value.http_status == 401 and refused.value.operation == "token"
    assert "Client authentication failed" in refused.value.error_msg
    assert "wrong" not in str(refused.value)
