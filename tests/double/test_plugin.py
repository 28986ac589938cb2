"""The pytest plugin's own fixtures, as a user's suite sees them (entry point pytest11)."""
from bmlocal.client import BmlError
from tests.support.server import job_body


def test_bml_gives_the_client_and_the_controls(bml) -> None:
    bml.hold()
    job_id = bml.client.create(job_body("held"))
    assert bml.client.wait(job_id, "p1", timeout=5, until="RUNNING")["train_status"] == \
        "RUNNING"
    assert bml.advance(job_id, "SUCCESSED")["train_status"] == "SUCCESSED"
    bml.clear_calls()
    bml.fail_next("detail", 406000)
    try:
        bml.client.detail(job_id, "p1")
    except BmlError as err:
        assert err.error_code == 406000
    else:
        raise AssertionError("the armed fault did not answer")
    assert [(c["operation"], c["fault"]) for c in bml.calls()] == [
        ("detail", "error_code 406000")]


def test_each_test_starts_from_nothing(bml, bml_server) -> None:
    assert bml.client.list("p1")["total"] == 0
    assert [c["operation"] for c in bml.calls()] == ["list"]
    assert bml.url == bml_server.url and bml.rules() == []
    job_id = bml.client.create(job_body("once"))  # the same name in the other test: no 406026
    assert bml.client.wait(job_id, "p1", timeout=5)["train_status"] == "SUCCESSED"
