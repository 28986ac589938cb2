"""The followed log stream: from an offset, resumed after a drop, ended with the job;
errors as envelopes; a multi-GB log read from near its end without loading it; a link
planted in the log directory is never followed."""
import json
import time
from pathlib import Path

import requests

from tests.ops.cli_support import ticking

CREDENTIALS = '[[auth.credentials]]\nak = "a"\nsk = "s"\nprojects = ["p1"]\n'


def events(server, headers=None, **params) -> list[tuple[str, dict]]:
    answer = requests.get(f"{server.url}/stream/v1/logs", params={"prjId": "p1", **params},
                          headers=headers or {}, stream=True, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/event-stream")
    found, kind = [], ""
    for line in answer.iter_lines(decode_unicode=True):
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            found.append((kind, json.loads(line[5:])))
    return found


def text_of(found: list[tuple[str, dict]]) -> str:
    return "".join(data["text"] for kind, data in found if kind == "log")


def test_follows_to_the_end_and_resumes_from_an_offset(server):
    job = server.create("ticks", ticking(5, 0.2))
    found = events(server, id=job, node=0)
    assert text_of(found) == "".join(f"tick {i}\n" for i in range(5))
    assert found[-1] == ("end", {"status": "SUCCESSED", "reason": "every node exited with "
                                 "code 0", "offset": len(text_of(found))})
    assert ("status", {"status": "RUNNING"}) in found or found[0][1]["status"] == "SUCCESSED"
    two = len("tick 0\ntick 1\n")
    resumed = events(server, {"Last-Event-ID": str(two)}, id=job, node=0, offset=0)
    assert text_of(resumed) == "tick 2\ntick 3\ntick 4\n"
    assert text_of(events(server, id=job, file="job.log")).count("RUNNING") >= 1


def test_errors_are_envelopes_with_the_cloud_codes(make_server):
    server = make_server(config=CREDENTIALS)
    token = requests.get(f"{server.url}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": "a", "client_secret": "s"},
        timeout=10).json()["access_token"]
    url = f"{server.url}/stream/v1/logs"
    cases = [({"id": 1, "prjId": "p1"}, 401, 110),
             ({"id": 1, "prjId": "p1", "access_token": token}, 404, 406012),
             ({"id": 1, "prjId": "p2", "access_token": token}, 403, 406037),
             ({"id": 1, "access_token": token}, 400, 406001),
             ({"id": "x", "prjId": "p1", "access_token": token}, 400, 406001),
             ({"id": 1, "prjId": "p1", "node": "-1", "access_token": token}, 400, 406001),
             ({"id": 1, "prjId": "p1", "file": "../bmlocal.db", "access_token": token}, 400,
              406001)]
    for params, status, code in cases:
        answer = requests.get(url, params=params, timeout=10)
        assert (answer.status_code, answer.json()["error_code"]) == (status, code), params
        assert token not in answer.text


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_multi_gigabyte_log_is_read_from_its_end_in_bounded_memory(server):
    size, release = 3 << 30, server.root / "release"
    # A sparse 3 GB log ending in 1 MB of text, removed before the job ends (its copy to
    # output_path would be a real 3 GB).
    code = server.write_code("code/big", {"big.py": f"""
import os, time
path = os.environ["BML_LOG_DIR"] + "/big.log"
with open(path, "wb") as f:
    f.truncate({size})
    f.seek({size - (1 << 20)})
    f.write(b"x" * {(1 << 20) - 6} + b"tail!\\n")
while not os.path.exists({str(release)!r}):
    time.sleep(0.1)
os.remove(path)
"""})
    job = server.create("big", "python big.py", **{"train_config.code_path": code})
    big = server.data_dir / "jobs" / str(job) / "logs" / "big.log"
    deadline = time.monotonic() + 30
    while not (big.exists() and big.stat().st_size == size):
        assert time.monotonic() < deadline, server.detail(job)
        time.sleep(0.05)
    assert server.process is not None
    before = rss_kb(server.process.pid)
    started, text = time.monotonic(), ""
    with requests.get(f"{server.url}/stream/v1/logs", stream=True, timeout=60, params={
            "prjId": "p1", "id": job, "file": "big.log", "offset": size - (1 << 20)}) as answer:
        for line in answer.iter_lines(decode_unicode=True):
            if line.startswith("data:") and '"text"' in line:
                text += json.loads(line[5:])["text"]
            if len(text) >= 1 << 20:
                break
    took = time.monotonic() - started
    release.touch()
    assert len(text) == 1 << 20 and text.endswith("tail!\n")
    assert took < 20
    assert rss_kb(server.process.pid) - before < 64 * 1024
    assert server.wait(job)["train_status"] == "SUCCESSED"


def test_a_link_planted_in_the_log_directory_is_not_followed(server):
    job = server.create("planter", "python -c \"import os; os.symlink('/etc/passwd', "
                                   "os.environ['BML_LOG_DIR'] + '/leak.log')\"")
    server.wait(job)
    found = events(server, id=job, file="leak.log")
    assert text_of(found) == "" and found[-1][0] == "end"


def test_streams_past_the_limit_are_refused_and_their_places_come_back(server):
    job = server.create("chatty", ticking(600, 0.1))
    server.wait(job, "RUNNING")
    url, params = f"{server.url}/stream/v1/logs", {"id": job, "prjId": "p1"}

    def opened() -> requests.Response:
        answer = requests.get(url, params=params, stream=True, timeout=30)
        assert answer.status_code == 200, answer.text
        next(answer.iter_lines())  # the stream is being served
        return answer
    streams = [opened() for _ in range(8)]
    refused = requests.get(url, params=params, timeout=30)
    assert (refused.status_code, refused.json()["error_code"]) == (429, 18)
    assert server.detail(job)["train_status"] == "RUNNING"  # the API still has its threads
    streams.pop().close()
    deadline = time.monotonic() + 15
    while (again := requests.get(url, params=params, stream=True, timeout=30)
           ).status_code != 200:
        assert time.monotonic() < deadline, "a closed stream's place did not come back"
        time.sleep(0.2)
    again.close()
    for stream in streams:
        stream.close()
    server.ok("stop", {"id": job, "prjId": "p1"})
