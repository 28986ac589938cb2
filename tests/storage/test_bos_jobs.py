"""Jobs whose code, data and outputs live in a real S3-compatible store (moto)."""
import io
import tarfile
import time
import uuid
from typing import Callable

import pytest

from tests.conftest import leftover_pids
from tests.storage.moto_server import ACCESS_KEY, SECRET_KEY, client_for
from tests.support.server import job_body

WAIT_FOR_GO = "while [ ! -e go ]; do sleep 0.05; done"


def bos_config(endpoint: str, interval: float = 0.3, final: float = 60) -> str:
    return (f'[bos]\nendpoint = "{endpoint}"\naccess_key = "{ACCESS_KEY}"\n'
            f'secret_key = "{SECRET_KEY}"\nsync_interval_seconds = {interval}\n'
            f'final_sync_timeout_seconds = {final}\n')


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"b-{uuid.uuid4().hex[:12]}"
    client_for(moto_endpoint).create_bucket(Bucket=name)
    return name


def keys(endpoint: str, bucket: str, prefix: str = "") -> dict[str, bytes]:
    client = client_for(endpoint)
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return found


def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


def bos_job(bucket: str, name: str, cmd: str, **changes) -> dict:
    return job_body(name, cmd, **{"train_config.output_UrlSource": "BOS",
                                  "train_config.output_path": f"/{bucket}/runs/{name}",
                                  **changes})


def test_code_from_a_tar_gz_object_and_a_dataset_prefix(make_server, moto_endpoint: str,
                                                         bucket: str) -> None:
    client = client_for(moto_endpoint)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"import os\nprint(sorted(os.listdir(os.environ['BML_TRAINSET_DIR'])))\n"
        info = tarfile.TarInfo("main.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    client.put_object(Bucket=bucket, Key="code/job.tar.gz", Body=buf.getvalue())
    for part in ("a", "b", "sub/c"):
        client.put_object(Bucket=bucket, Key=f"data/{part}.txt", Body=b"x")
    server = make_server(config=bos_config(moto_endpoint))
    job_id = server.ok("create", bos_job(bucket, "staged", "python main.py", **{
        "train_config.code_UrlSource": "BOS", "train_config.code_path": f"bos://{bucket}/code/job.tar.gz",
        "dataset_config.trainset_UrlSource": "BOS",
        "dataset_config.trainset_path": f"/{bucket}/data/"}))
    info = server.wait(job_id, timeout=60)
    assert info["train_status"] == "SUCCESSED", server.node_log(job_id)
    assert "['a.txt', 'b.txt', 'sub']" in server.node_log(job_id)
    assert b"['a.txt', 'b.txt', 'sub']" in keys(moto_endpoint, bucket,
                                                 "runs/staged/logs/")["runs/staged/logs/node-0.log"]


@pytest.mark.parametrize("field,code", [("train_config.code_path", 406019),
                                        ("dataset_config.trainset_path", 406022),
                                        ("dataset_config.evalset_path", 406023)])
def test_a_bos_path_that_does_not_exist_is_refused_at_create(
        make_server, moto_endpoint: str, bucket: str, field: str, code: int) -> None:
    server = make_server(config=bos_config(moto_endpoint))
    source = field.replace("_path", "_UrlSource").replace("code_UrlSource", "code_UrlSource")
    body = bos_job(bucket, "missing", "true", **{field: f"/{bucket}/nothing/here",
                                                 source: "BOS"})
    assert server.error("create", body)[0] == code


def test_outputs_are_in_the_bucket_while_the_job_runs(make_server, moto_endpoint: str,
                                                      bucket: str) -> None:
    server = make_server(config=bos_config(moto_endpoint))
    cmd = ("echo epoch1 > $BML_OUTPUT_DIR/ckpt-1.txt; "
           "while [ ! -e $BML_OUTPUT_DIR/../go ]; do sleep 0.05; done; "
           "echo final > $BML_OUTPUT_DIR/final.txt")
    job_id = server.ok("create", bos_job(bucket, "stream", cmd))
    server.wait(job_id, "RUNNING")
    wait_until(lambda: "runs/stream/ckpt-1.txt" in keys(moto_endpoint, bucket))
    assert server.detail(job_id)["train_status"] == "RUNNING"
    (server.data_dir / "jobs" / str(job_id) / "go").write_text("")
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    stored = keys(moto_endpoint, bucket, "runs/stream/")
    assert stored["runs/stream/final.txt"] == b"final\n"
    assert "runs/stream/logs/job.log" in stored


@pytest.mark.parametrize("how", ["stop", "max_duration"])
def test_the_last_sync_runs_after_stop_and_after_max_duration(
        make_server, moto_endpoint: str, bucket: str, how: str) -> None:
    hours = 3 if how == "max_duration" else 3600
    server = make_server(config=bos_config(moto_endpoint, interval=60), hour_seconds=hours,
                         grace_seconds=2)
    cmd = ("trap 'echo saved > $BML_OUTPUT_DIR/on-term.txt; exit 0' TERM; "
           "echo early > $BML_OUTPUT_DIR/early.txt; while true; do sleep 0.05; done")
    job_id = server.ok("create", bos_job(bucket, how, cmd))
    server.wait(job_id, "RUNNING")
    time.sleep(1)
    if how == "stop":
        server.ok("stop", {"id": job_id, "prjId": "p1"})
    info = server.wait(job_id, timeout=60)
    assert info["train_status"] == ("STOPPED" if how == "stop" else "FAILED")
    stored = keys(moto_endpoint, bucket, f"runs/{how}/")
    assert stored[f"runs/{how}/early.txt"] == b"early\n"
    assert stored[f"runs/{how}/on-term.txt"] == b"saved\n"  # written during the grace
    assert "output_note" not in info


def test_a_store_that_goes_away_mid_job_and_comes_back(make_server, moto_launcher,
                                                       tmp_path) -> None:
    endpoint, stop = moto_launcher()
    port = int(endpoint.rsplit(":", 1)[1])
    bucket = "comes-back"
    client_for(endpoint).create_bucket(Bucket=bucket)
    server = make_server(config=bos_config(endpoint, interval=0.3))
    cmd = ("echo one > $BML_OUTPUT_DIR/one.txt; "
           "while [ ! -e $BML_OUTPUT_DIR/../go ]; do sleep 0.05; done; "
           "echo two > $BML_OUTPUT_DIR/two.txt; "
           "while [ ! -e $BML_OUTPUT_DIR/../go2 ]; do sleep 0.05; done")
    job_id = server.ok("create", bos_job(bucket, "flaky", cmd))
    wait_until(lambda: "runs/flaky/one.txt" in keys(endpoint, bucket))
    stop()  # moto keeps its data in memory: the store comes back empty, as after a wipe
    job_dir = server.data_dir / "jobs" / str(job_id)
    (job_dir / "go").write_text("")
    time.sleep(1.5)
    assert server.detail(job_id)["train_status"] == "RUNNING"
    endpoint, _ = moto_launcher(port=port)
    client_for(endpoint).create_bucket(Bucket=bucket)
    wait_until(lambda: "runs/flaky/two.txt" in keys(endpoint, bucket))
    (job_dir / "go2").write_text("")
    info = server.wait(job_id)
    assert info["train_status"] == "SUCCESSED"
    assert "output_note" not in info
    assert (job_dir / "output" / "one.txt").exists()  # nothing deleted locally


def test_a_store_that_stays_away_is_reported_and_nothing_is_lost(make_server, moto_launcher
                                                                 ) -> None:
    endpoint, stop = moto_launcher()
    client_for(endpoint).create_bucket(Bucket="gone")
    server = make_server(config=bos_config(endpoint, final=2))
    job_id = server.ok("create", bos_job("gone", "gone", WAIT_FOR_GO.replace(
        "go ]", "$BML_OUTPUT_DIR/../go ]") + "; echo late > $BML_OUTPUT_DIR/late.txt"))
    server.wait(job_id, "RUNNING")
    stop()
    (server.data_dir / "jobs" / str(job_id) / "go").write_text("")
    info = server.wait(job_id, timeout=120)
    assert info["train_status"] == "SUCCESSED"  # the job's status is not hidden by the store
    assert "not uploaded" in info["output_note"]
    assert (server.data_dir / "jobs" / str(job_id) / "output" / "late.txt").exists()
    assert leftover_pids(server.data_dir) == []


def test_a_200_mb_output_file(make_server, moto_endpoint: str, bucket: str) -> None:
    server = make_server(config=bos_config(moto_endpoint, interval=5))
    cmd = "head -c 209715200 /dev/urandom > $BML_OUTPUT_DIR/big.bin"
    job_id = server.ok("create", bos_job(bucket, "big", cmd))
    assert server.wait(job_id, timeout=300)["train_status"] == "SUCCESSED"
    head = client_for(moto_endpoint).head_object(Bucket=bucket, Key="runs/big/big.bin")
    assert head["ContentLength"] == 209715200


def test_credentials_never_appear(make_server, moto_endpoint: str, bucket: str) -> None:
    server = make_server(config=bos_config(moto_endpoint))
    job_id = server.ok("create", bos_job(bucket, "secret", "env; echo done"))
    server.wait(job_id)
    missing = server.call("create", bos_job(bucket, "x", "true", **{
        "train_config.code_UrlSource": "BOS", "train_config.code_path": f"/{bucket}/none"}))
    texts = [server.settled_log(), str(server.detail(job_id)), str(missing),
             *(p.read_text(errors="replace") for p in
               (server.data_dir / "jobs" / str(job_id) / "logs").rglob("*.log"))]
    for text in texts:
        assert SECRET_KEY not in text and ACCESS_KEY not in text


def test_undelivered_outputs_are_delivered_by_the_next_server(make_server, moto_launcher
                                                              ) -> None:
    endpoint, stop = moto_launcher()
    port = int(endpoint.rsplit(":", 1)[1])
    server = make_server(config=bos_config(endpoint, final=1))
    client_for(endpoint).create_bucket(Bucket="later")
    job_id = server.ok("create", bos_job("later", "later", "sleep 1; echo kept > "
                                                           "$BML_OUTPUT_DIR/kept.txt"))
    server.wait(job_id, "RUNNING")
    stop()
    assert "not uploaded" in server.wait(job_id, timeout=60)["output_note"]
    server.stop()
    endpoint, _ = moto_launcher(port=port)
    client_for(endpoint).create_bucket(Bucket="later")
    server.start()
    wait_until(lambda: "output_note" not in server.detail(job_id))
    assert keys(endpoint, "later", "runs/later/")["runs/later/kept.txt"] == b"kept\n"
