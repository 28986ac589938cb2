"""S3Storage and OutputSync against a real S3-compatible server (moto on 127.0.0.1)."""

import io
import os
import socket
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.stub import Stubber

from bmlocal.runtime.storage.localbos import LocalBosStorage
from bmlocal.runtime.storage.paths import PathError
from bmlocal.runtime.storage.pfs import PfsStorage
from bmlocal.runtime.storage.s3 import BosSettings, S3Storage, StoreError, bos_settings
from bmlocal.runtime.storage.staging import stage_in
from bmlocal.runtime.storage.sync import OutputSync
from tests.storage.moto_server import ACCESS_KEY, SECRET_KEY, client_for

MB = 1024 * 1024


def make_storage(endpoint: str, cache: Path) -> S3Storage:
    return S3Storage(BosSettings(endpoint, ACCESS_KEY, SECRET_KEY), cache)


@pytest.fixture
def storage(moto_endpoint: str, tmp_path: Path) -> S3Storage:
    return make_storage(moto_endpoint, tmp_path / "cache")


def put(client: BaseClient, bucket: str, objects: dict[str, bytes]) -> None:
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)


def count_calls(storage: S3Storage, operation: str) -> list[str]:
    """The keys of every `operation` the storage's client sends from now on."""
    calls: list[str] = []
    storage.client.meta.events.register(
        f"provide-client-params.s3.{operation}", lambda params, **_: calls.append(params["Key"])
    )
    return calls


def replace(path: Path, text: str, scratch: Path) -> None:
    """Write as a job should, so that a sync never sees a half-written file: in `scratch`,
    outside the synced directory, then renamed into place."""
    partial = scratch / "partial"
    partial.write_text(text)
    os.replace(partial, path)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def body(client: BaseClient, bucket: str, key: str) -> bytes | None:
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# settings


def test_settings_from_table_with_environment_overrides() -> None:
    table = {
        "endpoint": "http://127.0.0.1:9000",
        "access_key": "ak",
        "secret_key": "sk",
        "region": "bj",
    }
    environ = {"BMLOCAL_BOS_SECRET_KEY": SECRET_KEY, "BMLOCAL_BOS_SYNC_INTERVAL_SECONDS": "2.5"}
    settings = bos_settings(table, environ)
    assert settings == BosSettings("http://127.0.0.1:9000", "ak", SECRET_KEY, "bj", 2.5, "auto")
    assert SECRET_KEY not in repr(settings) and SECRET_KEY not in str(settings)
    assert bos_settings({}, {}) is None
    assert bos_settings({"access_key": "ak"}, {}) is None
    from_env = bos_settings(
        {},
        {
            "BMLOCAL_BOS_ENDPOINT": "https://s3.bj.bcebos.com/",
            "BMLOCAL_BOS_ACCESS_KEY": "a",
            "BMLOCAL_BOS_SECRET_KEY": "s",
        },
    )
    assert from_env is not None and from_env.endpoint == "https://s3.bj.bcebos.com"
    assert from_env.sync_interval_seconds == 5 and from_env.region is None


VALID = {"endpoint": "http://127.0.0.1:9000", "access_key": "ak", "secret_key": SECRET_KEY}


@pytest.mark.parametrize(
    "change",
    [
        {"secret_key": None},
        {"endpoint": f"http://ak:{SECRET_KEY}@127.0.0.1:9000"},
        {"endpoint": "ftp://host"},
        {"sync_interval_seconds": 0},
        {"addressing_style": "dns"},
        {"secret": SECRET_KEY},
    ],
)
def test_bad_settings_are_refused_without_echoing_secrets(change: dict) -> None:
    table = {key: value for key, value in (VALID | change).items() if value is not None}
    with pytest.raises(ValueError) as info:
        bos_settings(table, {})
    assert SECRET_KEY not in str(info.value)


@pytest.mark.parametrize(
    ("endpoint", "style", "expected"),
    [
        ("http://127.0.0.1:9000", "auto", "path"),
        ("http://localhost:9000", "auto", "path"),
        ("https://s3.bj.bcebos.com", "auto", "auto"),
        ("https://s3.bj.bcebos.com", "path", "path"),
        ("http://127.0.0.1:9000", "virtual", "virtual"),
    ],
)
def test_addressing_style(endpoint: str, style: str, expected: str, tmp_path: Path) -> None:
    storage = S3Storage(
        BosSettings(endpoint, ACCESS_KEY, SECRET_KEY, addressing_style=style), tmp_path
    )
    assert storage.client.meta.config.s3["addressing_style"] == expected


# exists and fetch


def test_exists_for_objects_and_prefixes(
    storage: S3Storage, s3_client: BaseClient, bucket: str
) -> None:
    put(s3_client, bucket, {"data/x.txt": b"x", "data/sub/y.txt": b"y", "empty-dir/": b""})
    found = ["data/x.txt", "data", "data/", "data/sub", "", "empty-dir"]
    for path in [f"/{bucket}/{key}" for key in found] + [f"bos://{bucket}/data/sub/"]:
        assert storage.exists(path), path
    for path in [f"/{bucket}/dat", f"/{bucket}/data/x", f"/{bucket}/none/", "/no-bucket/data"]:
        assert not storage.exists(path), path


def test_fetch_object_and_prefix(
    storage: S3Storage, s3_client: BaseClient, bucket: str, tmp_path: Path
) -> None:
    put(
        s3_client,
        bucket,
        {
            "code/train.py": b"print(1)",
            "data/a.csv": b"1,2",
            "data/nested/b.csv": b"3,4",
            "data/nested/dir/": b"",
        },
    )
    fetched = storage.fetch(f"/{bucket}/code/train.py", tmp_path / "one")
    assert fetched == tmp_path / "one" / "train.py" and fetched.read_bytes() == b"print(1)"
    stage_in(storage, f"bos://{bucket}/data/", tmp_path / "train")
    assert tree(tmp_path / "train") == {"a.csv": b"1,2", "nested/b.csv": b"3,4"}
    assert (tmp_path / "train" / "nested" / "dir").is_dir()
    with pytest.raises(FileNotFoundError):
        storage.fetch(f"/{bucket}/missing/", tmp_path / "none")


def test_code_from_tar_gz_object_is_unpacked(
    storage: S3Storage, s3_client: BaseClient, bucket: str, tmp_path: Path
) -> None:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, data in {"train.py": b"print('hi')", "lib/util.py": b"X = 1"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    put(s3_client, bucket, {"jobs/code.tar.gz": archive.getvalue()})
    stage_in(storage, f"/{bucket}/jobs/code.tar.gz", tmp_path / "code")
    assert tree(tmp_path / "code") == {"lib/util.py": b"X = 1", "train.py": b"print('hi')"}


def test_repeated_fetch_reuses_the_cache_while_the_etag_is_unchanged(
    storage: S3Storage, s3_client: BaseClient, bucket: str, tmp_path: Path
) -> None:
    put(s3_client, bucket, {"ds/a.bin": b"a" * 1000, "ds/b.bin": b"b" * 1000})
    gets = count_calls(storage, "GetObject")
    stage_in(storage, f"/{bucket}/ds/", tmp_path / "first")
    assert len(gets) == 2
    stage_in(storage, f"/{bucket}/ds/", tmp_path / "second", read_only=True)
    stage_in(storage, f"/{bucket}/ds/a.bin", tmp_path / "third")
    assert len(gets) == 2
    assert tree(tmp_path / "second") == {"a.bin": b"a" * 1000, "b.bin": b"b" * 1000}

    put(s3_client, bucket, {"ds/a.bin": b"new"})
    stage_in(storage, f"/{bucket}/ds/", tmp_path / "fourth")
    assert len(gets) == 3
    assert (tmp_path / "fourth" / "a.bin").read_bytes() == b"new"
    entries = [p for p in storage.cache_dir.iterdir() if not p.name.endswith(".sha256")]
    assert len(entries) == 2  # the entry of the old ETag is gone


def test_a_cached_file_written_by_a_job_is_downloaded_again(
    storage: S3Storage, s3_client: BaseClient, bucket: str, tmp_path: Path
) -> None:
    put(s3_client, bucket, {"code/run.py": b"original"})
    gets = count_calls(storage, "GetObject")
    first = storage.fetch(f"/{bucket}/code/run.py", tmp_path / "job1")
    first.write_bytes(b"ORIGINAL")  # same size: the job's own copy, not the cache entry
    second = storage.fetch(f"/{bucket}/code/run.py", tmp_path / "job2")
    assert second.read_bytes() == b"original" and len(gets) == 1


@pytest.mark.parametrize(
    "key", ["data/../x", "data/../../etc/evil", "data/a\\b", "data/.", "data//ok.txt"]
)
def test_hostile_keys_are_refused(
    storage: S3Storage, s3_client: BaseClient, bucket: str, tmp_path: Path, key: str
) -> None:
    put(s3_client, bucket, {"data/made/": b"", "data/ok.txt": b"ok", key: b"evil"})
    dest = tmp_path / "deep" / "dest"
    dest.mkdir(parents=True)
    with pytest.raises(PathError):
        storage.fetch(f"/{bucket}/data/", dest)
    assert list(dest.iterdir()) == []  # refused before anything is written
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_store_errors_name_no_credentials(moto_endpoint: str, bucket: str, tmp_path: Path) -> None:
    storage = make_storage(moto_endpoint, tmp_path / "cache")
    with Stubber(storage.probe) as stub:  # exists() asks with the short-timeout client
        stub.add_client_error(
            "head_object", service_error_code=f"Bad{SECRET_KEY}{ACCESS_KEY}", http_status_code=403
        )
        with pytest.raises(StoreError) as refused:
            storage.exists(f"/{bucket}/key")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "f").write_bytes(b"f")
    with pytest.raises(StoreError) as no_bucket:
        storage.sync_out(tmp_path / "out", "/no-such-bucket/out/", ["f"])
    down = make_storage("http://127.0.0.1:9", tmp_path / "cache")
    with pytest.raises(StoreError) as unreachable:
        down.exists("/bucket/key")
    messages = [
        str(refused.value),
        str(no_bucket.value),
        str(unreachable.value),
        repr(storage.settings),
        repr(storage),
    ]
    assert (
        "HeadObject" in messages[0]
        and "NoSuchBucket" in messages[1]
        and "unreachable" in messages[2]
    )
    for message in messages:
        assert SECRET_KEY not in message and ACCESS_KEY not in message, message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


# sync_out and OutputSync


def test_output_sync_uploads_new_and_changed_files(
    storage: S3Storage, s3_client: BaseClient, bucket: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("1")
    (tmp_path / "elsewhere").write_text("outside")
    (out / "link").symlink_to(tmp_path / "elsewhere")
    puts = count_calls(storage, "PutObject")
    logs: list[str] = []
    sync = OutputSync(storage, out, f"bos://{bucket}/run/out", interval=0.1, log=logs.append)
    sync.start()
    wait_for(lambda: body(s3_client, bucket, "run/out/a.txt") == b"1")
    replace(out / "a.txt", "22", tmp_path)
    (out / "ckpt").mkdir()
    replace(out / "ckpt" / "b.bin", "b", tmp_path)
    wait_for(lambda: body(s3_client, bucket, "run/out/a.txt") == b"22")
    wait_for(lambda: body(s3_client, bucket, "run/out/ckpt/b.bin") == b"b")
    time.sleep(0.3)  # a few idle passes: nothing unchanged is uploaded again
    assert sorted(puts) == ["run/out/a.txt", "run/out/a.txt", "run/out/ckpt/b.bin"]
    replace(out / "c.txt", "last", tmp_path)
    assert sync.finish(timeout=10) is None
    assert body(s3_client, bucket, "run/out/c.txt") == b"last"
    assert body(s3_client, bucket, "run/out/link") is None
    assert sync.pending_files == ()
    assert logs == [f"output sync to bos://{bucket}/run/out: link is a symbolic link, not "
                    "followed: not delivered"]  # said once, not at every pass


def test_a_200_mb_file_goes_up_in_parts(
    storage: S3Storage, s3_client: BaseClient, bucket: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "model.bin", "wb") as f:  # sparse: fast to write and to read
        f.write(b"head")
        f.truncate(200 * MB)
    storage.sync_out(out, f"/{bucket}/big", ["model.bin"])
    head = s3_client.head_object(Bucket=bucket, Key="big/model.bin")
    assert head["ContentLength"] == 200 * MB
    assert "-" in head["ETag"]  # a multipart upload's ETag ends in -<parts>


def test_a_store_that_goes_away_and_comes_back(moto_launcher: Callable, tmp_path: Path) -> None:
    endpoint, stop = moto_launcher()
    client = client_for(endpoint)
    client.create_bucket(Bucket="outputs")
    out = tmp_path / "out"
    out.mkdir()
    logs: list[str] = []
    sync = OutputSync(
        make_storage(endpoint, tmp_path / "cache"),
        out,
        "/outputs/job",
        interval=0.1,
        log=logs.append,
        max_backoff=0.5,
    )
    sync.start()
    (out / "early.txt").write_text("early")
    wait_for(lambda: body(client, "outputs", "job/early.txt") == b"early")
    stop()
    for i in range(3):
        (out / f"while-down-{i}.txt").write_text(str(i))
    expected = "3 of 4 output files not uploaded: store unreachable"
    wait_for(lambda: any(expected in line for line in logs), timeout=20)
    assert len(sync.pending_files) == 3
    moto_launcher(int(endpoint.rsplit(":", 1)[1]))
    client.create_bucket(Bucket="outputs")  # moto keeps nothing across a restart
    assert sync.finish(timeout=30) is None
    for i in range(3):
        assert body(client, "outputs", f"job/while-down-{i}.txt") == str(i).encode()
    assert all(SECRET_KEY not in line and ACCESS_KEY not in line for line in logs)


def test_finish_without_a_store_reports_and_keeps_every_file(
    moto_launcher: Callable, tmp_path: Path
) -> None:
    endpoint, stop = moto_launcher()
    stop()
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    for name in ["a", "b", "sub/c"]:
        (out / name).write_text(name)
    sync = OutputSync(
        make_storage(endpoint, tmp_path / "cache"), out, "/outputs/job", interval=60, log=print
    )
    sync.start()
    message = sync.finish(timeout=1.0)
    assert message is not None and message.startswith(
        "3 of 3 output files not uploaded: store unreachable"
    )
    assert SECRET_KEY not in message and ACCESS_KEY not in message
    assert sorted(sync.pending_files) == ["a", "b", "sub/c"]
    assert tree(out) == {"a": b"a", "b": b"b", "sub/c": b"sub/c"}


def test_a_silent_store_fails_the_uploads_not_begun_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    names = [f"{i:02}" for i in range(40)]
    for name in names:
        (out / name).write_text(name)
    with socket.socket() as silent:  # completes TCP handshakes, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        storage = make_storage(endpoint, tmp_path / "cache")
        storage.client = client_for(
            endpoint, Config(read_timeout=0.2, retries={"total_max_attempts": 1})
        )
        puts = count_calls(storage, "PutObject")
        with pytest.raises(StoreError) as info:
            storage.sync_out(out, "/outputs/job", names)
    assert str(info.value) == f"store timed out at {endpoint}"
    assert sorted(info.value.not_uploaded) == names
    assert len(puts) < len(names)


def test_output_sync_with_local_buckets_and_pfs(tmp_path: Path) -> None:
    out = tmp_path / "scratch"
    out.mkdir()
    (out / "m.txt").write_text("m")
    local = OutputSync(LocalBosStorage(tmp_path / "bos"), out, "/bkt/run", interval=0.1, log=print)
    local.start()
    wait_for(lambda: (tmp_path / "bos" / "bkt" / "run" / "m.txt").exists())
    (out / "n.txt").write_text("n")
    assert local.finish(timeout=5) is None
    assert (tmp_path / "bos" / "bkt" / "run" / "n.txt").read_text() == "n"

    pfs = PfsStorage(tmp_path / "pfs")
    target = pfs.output_dir("/team/run", tmp_path / "unused")
    (target / "o.txt").write_text("o")
    direct = OutputSync(pfs, target, "/team/run", interval=0.1, log=print)
    direct.start()
    assert direct.finish(timeout=5) is None and direct.pending_files == ()
    assert os.listdir(target) == ["o.txt"]
