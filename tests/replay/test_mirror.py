"""`bmlocal mirror` from a real S3 server (moto) into local bucket directories and into
another S3 server, re-runs that copy only what changed, and a replay that runs with the
source stopped."""
import json
from pathlib import Path

import boto3

from tests.replay.support import DATA, INPUT_FILES, bmlocal, cloud_job, write_inputs
from tests.storage.moto_server import ACCESS_KEY, SECRET_KEY, client_for
from tests.support.server import Server

BUCKET = "bml-replay"
KEYS = {"env": {"BMLOCAL_MIRROR_ACCESS_KEY": ACCESS_KEY,
                "BMLOCAL_MIRROR_SECRET_KEY": SECRET_KEY}}


def fill(endpoint: str) -> boto3.client:
    s3 = client_for(endpoint)
    s3.create_bucket(Bucket=BUCKET)
    for rel, text in INPUT_FILES.items():
        s3.put_object(Bucket=BUCKET, Key=rel, Body=text.encode())
    return s3


def mirror(*args: str, url: str) -> tuple[int, dict]:
    done = bmlocal("mirror", *args, "--output", "json", url=url, **KEYS)
    return done.returncode, (json.loads(done.stdout) if done.stdout.strip() else
                             {"stderr": done.stderr})


def copied(report: dict) -> int:
    return sum(p["copied"] for p in report["paths"].values())


def test_mirror_into_local_buckets_then_replay_offline(moto_launcher, server: Server) -> None:
    endpoint, stop = moto_launcher()
    s3 = fill(endpoint)
    job = str(DATA / "detail-default-plain.json")
    rc, report = mirror(job, "--source-endpoint", endpoint, "--bos-root", str(server.bos),
                        url=server.url)
    assert rc == 0, report
    assert copied(report) == 4 and report["complete"] is True
    for rel, text in INPUT_FILES.items():
        assert (server.bos / BUCKET / rel).read_text() == text
    manifest = json.loads(Path(report["manifest"]).read_text())
    code = manifest["paths"]["/bml-replay/code"]["objects"]["code/train.py"]
    assert code["size"] == len(INPUT_FILES["code/train.py"]) and code["etag"].startswith('"')
    assert not list(server.bos.rglob("*.mirror-partial"))

    rc, again = mirror(job, "--source-endpoint", endpoint, "--bos-root", str(server.bos),
                       url=server.url)
    assert rc == 0 and copied(again) == 0
    assert sum(p["skipped"] for p in again["paths"].values()) == 4

    s3.put_object(Bucket=BUCKET, Key="data/train/part-1.txt", Body=b"40 50 60\n")
    rc, changed = mirror(job, "--source-endpoint", endpoint, "--bos-root", str(server.bos),
                         url=server.url)
    assert rc == 0 and copied(changed) == 1
    assert changed["paths"]["/bml-replay/data/train"]["copied"] == 1
    assert (server.bos / BUCKET / "data/train/part-1.txt").read_text() == "40 50 60\n"

    stop()  # the cloud is out of reach from here on
    done = bmlocal("replay", job, "-p", "p1", "--output", "json", url=server.url)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {r["field"]: r["local"] for r in result["rows"]}["code_UrlSource"] == "BOS"
    info = server.wait(result["id"], timeout=120)
    assert info["train_status"] == "SUCCESSED", server.node_log(result["id"])
    record = json.loads((server.bos / BUCKET / "out/default-plain/bml-run.json").read_text())
    assert record["job"]["id"] == result["id"] and record["metrics"]["train_bytes"] == 15


def test_mirror_of_a_local_job_id_and_into_an_s3_server(moto_launcher, server: Server,
                                                        tmp_path: Path) -> None:
    source, _ = moto_launcher()
    fill(source)
    dest, _ = moto_launcher()
    config = tmp_path / "bmlocal.toml"
    config.write_text(f'[bos]\nendpoint = "{dest}"\naccess_key = "{ACCESS_KEY}"\n'
                      f'secret_key = "{SECRET_KEY}"\n[server]\ndata_dir = "{tmp_path}/d"\n')
    job = str(DATA / "detail-ccr-ddp.json")
    rc, report = mirror(job, "--source-endpoint", source, "--config", str(config),
                        url=server.url)
    assert "paths" in report, report
    assert copied(report) == 4 and report["destination"] == f"s3 {dest}"
    target = client_for(dest)
    body = target.get_object(Bucket=BUCKET, Key="code/train.py")["Body"].read().decode()
    assert body == INPUT_FILES["code/train.py"]
    assert Path(report["manifest"]).parent == tmp_path / "d" / "mirror"
    image = report["image"]
    assert image["reference"] == "bmlocal/train:cpu"
    assert image["status"] in ("present", "unavailable")  # no engine here: it says so
    assert rc == (0 if image["status"] == "present" else 1)

    # a local job's own inputs, by id (its BOS paths, from export)
    (server.bos / BUCKET / "code").mkdir(parents=True)
    (server.bos / BUCKET / "code/train.py").write_text("print(1)\n")
    job_id = server.create("local", "python train.py", **{
        "train_config.code_UrlSource": "BOS", "train_config.code_path": "/bml-replay/code",
        "train_config.output_UrlSource": "BOS", "train_config.output_path": "/bml-replay/o"})
    rc, by_id = mirror(str(job_id), "-p", "p1", "--source-endpoint", source, "--bos-root",
                       str(tmp_path / "buckets"), url=server.url)
    assert rc == 0 and list(by_id["paths"]) == ["/bml-replay/code"]
    assert (tmp_path / "buckets" / BUCKET / "code/train.py").read_text() == \
        INPUT_FILES["code/train.py"]


def test_a_source_out_of_reach_leaves_nothing(moto_launcher, server: Server,
                                              tmp_path: Path) -> None:
    endpoint, stop = moto_launcher()
    stop()
    dest = tmp_path / "buckets"
    done = bmlocal("mirror", str(DATA / "detail-default-plain.json"), "--source-endpoint",
                   endpoint, "--bos-root", str(dest), url=server.url, **KEYS)
    assert done.returncode != 0
    assert "train_config.code_path" in done.stderr and "unreachable" in done.stderr
    assert not dest.exists() or not [p for p in dest.rglob("*") if p.is_file()]
    missing = cloud_job("detail-default-plain.json")
    assert "/bml-replay/code" == missing["train_config"]["code_path"]


def test_a_path_missing_at_the_source_is_named(moto_launcher, server: Server,
                                               tmp_path: Path) -> None:
    endpoint, _ = moto_launcher()
    client_for(endpoint).create_bucket(Bucket=BUCKET)
    done = bmlocal("mirror", str(DATA / "detail-default-plain.json"), "--source-endpoint",
                   endpoint, "--bos-root", str(tmp_path / "b"), url=server.url, **KEYS)
    assert done.returncode != 0 and "/bml-replay/code not found" in done.stderr
    assert not (tmp_path / "b" / ".bmlocal-mirror").exists()


def test_an_image_whose_registry_cannot_be_reached(moto_launcher, make_server, docker_engine,
                                                   tmp_path: Path) -> None:
    registry = '[docker.registries]\nrepo1 = "127.0.0.1:9"\n'  # nothing listens on port 9
    server = make_server(config=registry)
    source, _ = moto_launcher()
    fill(source)
    job = cloud_job("detail-ccr-horovod.json")
    job["train_config"].update(image="/nowhere/img", tag="v1", repository_id="repo1")
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job))

    write_inputs(server.bos)  # a dry run checks the paths as create would
    done = bmlocal("replay", str(path), "-p", "p1", "--dry-run", "--output", "json",
                   url=server.url)
    assert done.returncode == 0, done.stderr
    row = next(r for r in json.loads(done.stdout)["rows"] if r["field"] == "image")
    assert row["outcome"] == "unavailable" and "127.0.0.1:9 cannot be reached" in row["note"]

    config = tmp_path / "bmlocal.toml"
    config.write_text(registry)
    rc, report = mirror(str(path), "--source-endpoint", source, "--config", str(config),
                        "--bos-root", str(tmp_path / "b"), url=server.url)
    assert rc == 1 and report["image"]["status"] == "unavailable", report
    assert report["image"]["reference"] == "127.0.0.1:9/nowhere/img:v1"
    assert copied(report) == 4  # the data is mirrored all the same
