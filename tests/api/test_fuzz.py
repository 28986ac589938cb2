"""Fuzzing the five calls with bodies built from the server's own OpenAPI document.

Whatever the body, the answer is a JSON envelope with HTTP 200 (404 only for unknown
paths), an error_code from the contract's list, never 5xx, HTML or a traceback, and the
server lives on.

Safety: a generated create body that passes validation starts a real job whose start_cmd
runs under /bin/sh. So start_cmd is never left to chance: in every body whose train_config
is an object it is replaced by a value from SAFE_START_CMDS: `true`, `:` or `true # <text
without a line break>` (the text after `#` is a comment), blanks that validation refuses,
or a non-string that validation refuses. No other field is executed: code and datasets are
only copied, from PFS and BOS roots that are empty temporary directories of this module's
own server, outputs are written under those roots, and a distribute_strategy only wraps
`python ...` commands. The server runs with `--executor process`, so a CCR job runs its
(safe) start_cmd as a process too: no image is ever pulled, whether or not a Docker engine
answers on this machine. Pointing the roots at empty directories alone would not be
enough, because code_path is optional and a job without one still runs its start_cmd.
"""
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import leftover_pids
from tests.support.server import BASE, Server

# Every code the contract names (table, stop/delete, and those with their seed meaning).
CONTRACT_CODES = {
    3, 110, 111, 406000, 406001, 406008, 406012, 406013, 406014, 406015, 406016, 406017,
    406018, 406019, 406020, 406021, 406022, 406023, 406024, 406025, 406026, 406027, 406028,
    406029, 406030, 406031, 406032, 406033, 406034, 406035, 406036, 406037, 406038, 406100,
    406101, 406102, 406103, 406104}
# 406000 means something unexpected broke inside the server: for input it is a bug.
ALLOWED_CODES = CONTRACT_CODES - {406000}
FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
FEWER = settings(FUZZ, max_examples=150)

attempts: dict[str, int] = {}  # answers per method, and successful ones: the last test
successes: dict[str, int] = {}  # checks that the generators reach past validation


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("fuzz")),
                    extra_args=["--executor", "process"]).start()
    yield server
    try:
        server.stop()
    except subprocess.TimeoutExpired:
        assert server.process is not None
        server.process.kill()
        server.process.wait()
    for pid in leftover_pids(server.data_dir):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def session(fuzz_server: Server) -> Iterator[requests.Session]:
    """Closed before the server stops: an idle keep-alive connection stalls its shutdown."""
    with requests.Session() as s:
        yield s


@pytest.fixture(scope="module")
def document(fuzz_server: Server) -> dict[str, Any]:
    return requests.get(f"{fuzz_server.url}/openapi.json", timeout=10).json()


def request_schema(document: dict[str, Any], method: str) -> dict[str, Any]:
    post = document["paths"][f"{BASE}/{method}"]["post"]
    return post["requestBody"]["content"]["application/json"]["schema"]


# --- strategies ------------------------------------------------------------------------

ODD_TEXTS = ["", " ", "\t\n", "\u3000", "😀", "🇨🇳", "❤\ufe0f", "\ufe0f", "名" * 51, "\x00",
             "..", "/..", "/a/../b", "bos://", "bos://ab/x", "/Bad_Bucket/x", "\\", "null",
             "<html>", "%s%n", "' OR 1=1 --", "\u202e", "\U0010ffff"]

weird_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(ODD_TEXTS),
    st.builds(lambda unit, n: unit * n, st.sampled_from(["x", "名", "😀", "/a", " "]),
              st.integers(0, 3000)),
    st.integers(0xD800, 0xDFFF).map(chr),  # a lone surrogate
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-2**80, 2**80),
    st.sampled_from([0, -1, 1, 2**63, -2**63 - 1, 2**64]), st.floats(), weird_text)
junk = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)

SAFE_START_CMDS = st.one_of(
    st.just("true"), st.just("true"), st.just(":"),
    st.text(max_size=40).filter(lambda t: "\n" not in t).map(lambda t: f"true # {t}"),
    st.sampled_from(["", "   ", "\n\t", "true" + " " * 1100]),
    junk.filter(lambda v: not isinstance(v, str)),
)

# Per field: values that pass the field's own rules, and odd ones that mostly do not.
VALID: dict[str, st.SearchStrategy] = {
    "name": st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    "description": st.text(alphabet="abc xyz名称0-9", min_size=1, max_size=80)
                     .filter(str.strip),
    "prjId": st.sampled_from(["p1", "p2"]),
    "env_type": st.just("DEFAULT"),
    "output_path": st.sampled_from(["/my-bucket/out", "/fuzz-out/run-1", "/fuzz-out"]),
    "code_path": st.just(""), "trainset_path": st.just(""), "evalset_path": st.just(""),
    "resource_type": st.just("PUBLIC"),
    "resource_name": st.sampled_from(["CPU_4C_16G", "CPU_16C_64G"]),
    "node_count": st.integers(1, 4), "max_duration": st.integers(1, 168),
    "gpu_num": st.just(0), "cpu_num": st.integers(0, 4), "memory": st.integers(0, 16),
    "id": st.integers(1, 60),
}
odd_paths = st.one_of(
    st.sampled_from(["/", "", "/nope", "bos://my-bucket/out", "/a/../b", "out/relative",
                     "/Bad_Bucket/x", "bos://ab/x", "/a/./b//c/", "/" + "x" * 1100]),
    st.text(max_size=30).map(lambda t: "/" + t), weird_text)
odd_integers = st.one_of(st.integers(-2, 200), st.integers(),
                         st.sampled_from([2**63, -2**63 - 1, 10**30]))
ODD: dict[str, st.SearchStrategy] = {
    "env_type": st.sampled_from(["CCR", "default", ""]),
    "resource_type": st.sampled_from(["USER", "public", ""]),
    "resource_name": st.sampled_from(["GPU_V100", "GPU_P4", "NOPE", ""]),
    "output_path": odd_paths, "code_path": odd_paths, "trainset_path": odd_paths,
    "evalset_path": odd_paths,
}


def value(schema: dict[str, Any], name: str) -> st.SearchStrategy:
    """Mostly a value that passes the field's own rules, now and then an odd one."""
    kind = schema.get("type")
    if kind == "object":
        return objects(schema)
    if name in VALID:
        valid = VALID[name]
    elif "enum" in schema:
        valid = st.sampled_from(schema["enum"])
    elif kind == "integer":
        valid = st.integers(schema.get("minimum"), schema.get("maximum"))
    elif kind == "boolean":
        valid = st.booleans()
    else:
        valid = st.text(min_size=schema.get("minLength", 0),
                        max_size=min(schema.get("maxLength", 40), 80))
    odd = ODD.get(name, odd_integers if kind == "integer" else weird_text)
    return st.sampled_from([True] * 6 + [False]).flatmap(lambda ok: valid if ok else odd)


@st.composite
def objects(draw: st.DrawFn, schema: dict[str, Any]) -> dict[str, Any]:
    """An object after `schema`: every required field, some optional ones, all well typed."""
    required = set(schema.get("required", []))
    return {name: draw(value(sub, name))
            for name, sub in schema.get("properties", {}).items()
            if name in required or draw(st.booleans())}


def fields(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every field of `schema` as a key path, nested ones included."""
    found = []
    for name, sub in schema.get("properties", {}).items():
        found.append(prefix + (name,))
        found += fields(sub, prefix + (name,))
    return found


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`body` with a few fields (none, often) dropped, made junk or added."""
    choices = fields(schema)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        path = draw(st.sampled_from(choices))
        key = path[-1] if draw(st.integers(0, 4)) else draw(st.text(max_size=12))
        where: Any = body
        for part in path[:-1]:
            where = where.get(part) if isinstance(where, dict) else None
        if not isinstance(where, dict):
            continue
        if draw(st.booleans()):
            where.pop(key, None)
        else:
            where[key] = draw(junk)
    return body


@st.composite
def bodies(draw: st.DrawFn, schema: dict[str, Any]) -> bytes:
    """Mostly objects after the schema, mutated; sometimes any JSON value or random bytes."""
    kind = draw(st.sampled_from(["schema"] * 8 + ["json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(junk)).encode()
    body = draw(mutated(draw(objects(schema)), schema))
    if isinstance(body.get("train_config"), dict):
        body["train_config"]["start_cmd"] = draw(SAFE_START_CMDS)  # see the module docstring
    return json.dumps(body).encode()


# --- checks ----------------------------------------------------------------------------

def post(session: requests.Session, server: Server, method: str,
         body: bytes) -> requests.Response:
    return session.post(f"{server.url}{BASE}/{method}", params={"access_token": "fuzz"},
                        data=body, headers={"Content-Type": "application/json"}, timeout=30)


def check_envelope(answer: requests.Response, method: str, status: int = 200) -> None:
    """The answer is a contract envelope; counts successes per method."""
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["Content-Type"].startswith("application/json")
    payload = answer.json()  # JSON, so no HTML page (results may echo stored "<html>" text)
    assert type(payload["log_id"]) is int and payload["log_id"] > 0
    if "error_code" in payload:
        assert set(payload) == {"error_code", "error_msg", "log_id"}, payload
        assert type(payload["error_code"]) is int
        assert payload["error_code"] in ALLOWED_CODES, payload
        assert isinstance(payload["error_msg"], str) and payload["error_msg"]
        assert "Traceback" not in answer.text and "File \"" not in answer.text
        return
    assert set(payload) == {"log_id", "result"}, payload
    successes[method] = successes.get(method, 0) + 1
    result = payload["result"]
    if method == "create":
        assert type(result) is int and result > 0
    elif method in ("stop", "delete"):
        assert result is True
    elif method == "list":
        assert set(result) == {"total", "items"} and len(result["items"]) <= 100
    elif method == "detail":
        assert isinstance(result, dict) and type(result["id"]) is int
    else:
        assert set(result) == {"file", "offset", "content"}


def fuzz(session: requests.Session, server: Server, method: str, body: bytes) -> None:
    """Send one body, check the answer; `--hypothesis-show-statistics` lists the answers."""
    answer = post(session, server, method, body)
    attempts[method] = attempts.get(method, 0) + 1
    check_envelope(answer, method)
    payload = answer.json()
    event(f"{method}: {payload.get('error_code', 'ok')} {payload.get('error_msg', '')}")


# --- the properties --------------------------------------------------------------------

@FUZZ
@given(data=st.data())
def test_create_answers_an_envelope_whatever_the_body(
        fuzz_server: Server, session: requests.Session, document: dict[str, Any],
        data: st.DataObject) -> None:
    body = data.draw(bodies(request_schema(document, "create")))
    fuzz(session, fuzz_server, "create", body)


@FEWER
@given(data=st.data(), method=st.sampled_from(["stop", "delete", "detail", "logs"]))
def test_stop_delete_detail_and_logs_answer_an_envelope_whatever_the_body(
        fuzz_server: Server, session: requests.Session, document: dict[str, Any],
        data: st.DataObject, method: str) -> None:
    body = data.draw(bodies(request_schema(document, method)))
    fuzz(session, fuzz_server, method, body)


@FEWER
@given(data=st.data())
def test_list_answers_an_envelope_whatever_the_body(
        fuzz_server: Server, session: requests.Session, document: dict[str, Any],
        data: st.DataObject) -> None:
    body = data.draw(bodies(request_schema(document, "list")))
    fuzz(session, fuzz_server, "list", body)


@settings(FUZZ, max_examples=50)
@given(method=st.text(alphabet="abcdefghijklmnopqrstuvwxyz-_.", min_size=1, max_size=12)
       .filter(lambda m: m not in ("create", "stop", "delete", "list", "detail", "logs")
               and m not in (".", "..")))
def test_an_unknown_method_answers_the_404_envelope(
        fuzz_server: Server, session: requests.Session, method: str) -> None:
    check_envelope(post(session, fuzz_server, method, b'{"prjId": "p1"}'), method, 404)


def test_the_fuzzing_reached_valid_creates_and_the_server_lives_on(
        fuzz_server: Server, session: requests.Session) -> None:
    """Runs last in this module: the generators are worth something only if some bodies got
    through every rule, and the server must have survived all of it."""
    if not attempts.get("create"):
        pytest.skip("checks what the create fuzzing did; run the whole module")
    assert successes.get("create", 0) > 0, (attempts, successes)
    assert fuzz_server.process is not None and fuzz_server.process.poll() is None
    answer = session.post(f"{fuzz_server.url}{BASE}/list", params={"access_token": "t"},
                          json={"prjId": "p1", "num": 100}, timeout=10)
    check_envelope(answer, "list")
    assert "internal error" not in fuzz_server.settled_log()
