"""The S3 download cache, shared by every job and project, cannot be changed by a job; the
cache checks content before reuse; a store that does not answer cannot hold `create` for
long; an S3 upload never reads through a link a job swaps in."""
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bmlocal.runtime.storage.s3 import BosSettings, S3Storage
from tests.hardening.hostile_report import record
from tests.storage.conftest import moto_endpoint  # noqa: F401 (a fixture: one moto server)
from tests.storage.moto_server import ACCESS_KEY, SECRET_KEY, client_for
from tests.storage.test_bos_jobs import bos_config
from tests.support.server import Server, job_body

ORIGINAL = b"print('original')\n"
HACKED = b"print('HACKED!!')\n"  # the same size


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    endpoint = moto_endpoint
    name = f"h-{uuid.uuid4().hex[:12]}"
    client_for(endpoint).create_bucket(Bucket=name)
    client_for(endpoint).put_object(Bucket=name, Key="code/main.py", Body=ORIGINAL)
    return name


def gets_of(storage: S3Storage) -> list[str]:
    calls: list[str] = []
    storage.client.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: calls.append(params["Key"]))
    return calls


def test_a_job_that_rewrites_its_cached_code_changes_nothing_for_the_next_job(
        make_server: Callable[..., Server], moto_endpoint: str, bucket: str) -> None:
    server = make_server(config=bos_config(moto_endpoint))
    code = {"train_config.code_UrlSource": "BOS",
            "train_config.code_path": f"/{bucket}/code/main.py"}
    # Same size, same mtime: what fooled a cache trusted on size and mtime.
    attack = ("python main.py && cp -p main.py .ref && printf \"print('HACKED!!')\\n\" > main.py "
              "&& touch -r .ref main.py && python main.py")
    first = server.create("attacker", attack, **code)
    assert server.wait(first)["train_status"] == "SUCCESSED"
    assert server.node_log(first).splitlines() == ["original", "HACKED!!"]
    second = server.create("victim", "python main.py", **code)
    assert server.wait(second)["train_status"] == "SUCCESSED"
    assert server.node_log(second).strip() == "original"
    cache = server.data_dir / "cache" / "bos"
    assert all(p.read_bytes() != HACKED for p in cache.iterdir())
    record("S3 cache", "job rewrites its cached code (same size and mtime)",
           "own copy changed only; next job got the original")


def test_a_cache_entry_changed_on_disk_is_detected_and_fetched_again(
        moto_endpoint: str, bucket: str, tmp_path: Path) -> None:
    storage = S3Storage(BosSettings(moto_endpoint, ACCESS_KEY, SECRET_KEY), tmp_path / "cache")
    gets = gets_of(storage)
    assert storage.fetch(f"/{bucket}/code/main.py", tmp_path / "one").read_bytes() == ORIGINAL
    [entry] = [p for p in storage.cache_dir.iterdir() if not p.name.endswith(".sha256")]
    st = entry.stat()
    entry.write_bytes(HACKED)
    os.utime(entry, ns=(st.st_atime_ns, st.st_mtime_ns))  # size and mtime as they were
    assert storage.fetch(f"/{bucket}/code/main.py", tmp_path / "two").read_bytes() == ORIGINAL
    assert len(gets) == 2  # the changed entry was dropped and downloaded again
    assert storage.fetch(f"/{bucket}/code/main.py", tmp_path / "three").read_bytes() == ORIGINAL
    assert len(gets) == 2  # and the fresh one is reused
    record("S3 cache", "cache entry changed on disk (same size and mtime)",
           "sha256 mismatch: dropped and downloaded again")


def test_an_upload_never_reads_through_a_file_swapped_for_a_link(
        moto_endpoint: str, bucket: str, tmp_path: Path) -> None:
    endpoint = moto_endpoint
    token = f"host-secret-{uuid.uuid4().hex}"
    (tmp_path / "secret.txt").write_text(token)
    out = tmp_path / "out"
    out.mkdir()
    storage = S3Storage(BosSettings(endpoint, ACCESS_KEY, SECRET_KEY), tmp_path / "cache")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            (out / ".f").write_text("mine")
            os.replace(out / ".f", out / "f.txt")
            os.symlink(tmp_path / "secret.txt", out / ".l")
            os.replace(out / ".l", out / "f.txt")

    swapper = threading.Thread(target=swap)
    swapper.start()
    seen, client = set(), client_for(endpoint)
    try:
        for _ in range(20):
            storage.sync_out(out, f"/{bucket}/run", ["f.txt"])  # a link at that moment: skipped
            try:
                got = client.get_object(Bucket=bucket, Key="run/f.txt")
            except client.exceptions.NoSuchKey:
                continue
            seen.add(got["Body"].read().decode())
    finally:
        stop.set()
        swapper.join()
    assert token not in seen and seen == {"mine"}
    record("S3 upload", "output swapped file/link during upload (race)",
           "20 uploads, 0 through the link")


@pytest.fixture
def silent_store() -> Iterator[str]:
    """An endpoint that accepts connections and never answers: a store that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_create_answers_within_its_budget_when_the_store_hangs(
        make_server: Callable[..., Server], silent_store: str) -> None:
    server = make_server(config=bos_config(silent_store))
    body = job_body("hanging", "true", **{"train_config.code_UrlSource": "BOS",
                                          "train_config.code_path": "/bucket/code/"})
    started = time.monotonic()
    code, message = server.error("create", body)
    took = time.monotonic() - started
    assert code == 406000 and took < 8, (code, message, took)
    assert "try again" in message and "timed out" in message
    assert SECRET_KEY not in message and ACCESS_KEY not in message
    assert server.ok("list", {"prjId": "p1"})["total"] == 0  # nothing was stored
    record("create", "BOS store that accepts and never answers",
           f"406000 in {took:.1f} s: {message}")
