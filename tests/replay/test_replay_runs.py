"""Cloud jobs of every strategy and env type replayed on a real server, through the process
and Docker executors, with a pool map and with scaling; and what bad input does."""
import json
from pathlib import Path
from typing import Any

import requests

from tests.replay.support import (CCR_FILES, DATA, STRATEGY_FILES, bmlocal, cloud_job,
                                  replay_json, require_frameworks, write_inputs)
from tests.support.server import Server

PFS_SOURCES = ("--code-source", "PFS", "--dataset-source", "PFS", "--output-source", "PFS")
JOB_TIMEOUT = 300  # the distributed launchers start slowly on a busy 2-core machine


def replay_and_check(server: Server, files: list[str], executor: str) -> None:
    write_inputs(server.pfs)
    results = {name: replay_json(str(DATA / name), "-p", "p1", *PFS_SOURCES, url=server.url)
               for name in files}
    ids = {name: result["id"] for name, result in results.items()}
    for name, result in results.items():
        image = [r for r in result["rows"] if r["field"] == "image"]
        assert ("CCR" in name.upper()) == bool(image)
        if image and executor == "docker":
            assert image[0]["outcome"] == "kept" and "in the local engine" in image[0]["note"]
    for name, job_id in ids.items():
        info = server.wait(job_id, timeout=JOB_TIMEOUT)
        assert info["train_status"] == "SUCCESSED", (name, info, server.node_log(job_id))
        check_provenance(server, name, job_id, executor)


def check_provenance(server: Server, name: str, job_id: int, executor: str) -> None:
    cloud = cloud_job(name)
    out = server.pfs / cloud["train_config"]["output_path"].lstrip("/")
    record = json.loads((out / "bml-run.json").read_text())
    kept = json.loads((server.data_dir / "jobs" / str(job_id) / "bml-run.json").read_text())
    assert record == kept
    assert record["job"]["id"] == job_id and record["status"]["final"] == "SUCCESSED"
    assert record["status"]["exit_codes"] == {"0": 0}
    assert record["create_body"]["train_config"]["start_cmd"] == \
        cloud["train_config"]["start_cmd"]
    assert record["resources"]["distribute_strategy"] == \
        cloud["train_config"]["distribute_strategy"]
    assert record["inputs"]["code"]["files"] == 1 and record["inputs"]["trainset"]["files"] == 2
    assert record["metrics"] == {"loss": 0.076923, "train_bytes": 12, "eval.files": 1}
    assert record["versions"]["executor"] == executor
    assert record["versions"]["frameworks"].get("torch", "").startswith("2."), record
    assert record["replayed_from"]["cloud_id"] == cloud["id"]
    assert record["times"]["ended"] and record["times"]["run_seconds"] >= 0
    if executor == "docker":
        assert record["image"]["reference"] == "bmlocal/train:cpu"
        assert record["image"]["id"].startswith("sha256:")


def test_every_strategy_and_env_type_through_the_process_executor(make_server) -> None:
    require_frameworks()
    server = make_server(extra_args=["--executor", "process"])
    replay_and_check(server, STRATEGY_FILES, "process")


def test_ccr_jobs_through_the_docker_executor(make_server, docker_engine) -> None:
    server = make_server()
    replay_and_check(server, CCR_FILES, "docker")


GPU_CONFIG = """
[gpus]
devices = [0, 1]
type = "T4"

[[pools]]
name = "gpu-box"
nodes = 2
gpus_per_node = 2
gpu_type = "T4"

[replay]
on_shortfall = "{mode}"
[replay.gpu_types]
V100 = "gpu-box"
"""


def gpu_job(tmp_path: Path) -> Path:
    """The 4 x 8 V100 cloud job, its code on this server's PFS."""
    answer = cloud_job("answer-gpu-ddp.json")
    answer["result"]["train_config"]["start_cmd"] = "python train.py"
    path = tmp_path / "gpu-job.json"
    path.write_text(json.dumps(answer))
    return path


def test_a_gpu_job_scaled_onto_a_mapped_pool(make_server, tmp_path: Path) -> None:
    require_frameworks()  # a PytorchDDP job
    server = make_server(config=GPU_CONFIG.format(mode="scale"),
                         extra_args=["--executor", "process"])
    write_inputs(server.pfs)
    result = replay_json(str(gpu_job(tmp_path)), "-p", "p1", *PFS_SOURCES, url=server.url)
    rows = {r["field"]: r for r in result["rows"]}
    assert rows["resource_name"]["local"] == "USER/gpu-box"
    assert rows["resource_name"]["outcome"] == "mapped"
    assert (rows["gpu_num"]["cloud"], rows["gpu_num"]["local"]) == ("8", "2")
    assert (rows["node_count"]["cloud"], rows["node_count"]["local"]) == ("4", "1")
    assert rows["node_count"]["outcome"] == "scaled" and rows["rdma"]["outcome"] == "unavailable"
    info = server.wait(result["id"], timeout=JOB_TIMEOUT)
    assert info["train_status"] == "SUCCESSED", server.node_log(result["id"])
    assert info["resource_config"]["gpu_num"] == 2 and info["resource_config"]["node_count"] == 1
    record = json.loads((server.data_dir / "jobs" / str(result["id"]) / "bml-run.json")
                        .read_text())
    assert record["resources"]["gpu_ids"] == [[0, 1]]
    assert record["resources"]["gpu_type"] == "T4"


def test_refuse_creates_nothing_and_names_the_field(make_server, tmp_path: Path) -> None:
    server = make_server(config=GPU_CONFIG.format(mode="refuse"))
    done = bmlocal("replay", str(gpu_job(tmp_path)), "-p", "p1", *PFS_SOURCES, url=server.url)
    assert done.returncode == 1 and "resource_config.gpu_num" in done.stderr
    assert server.ok("list", {"prjId": "p1", "start": 0, "num": 10})["total"] == 0


def test_dry_run_shows_the_table_and_creates_nothing(server: Server) -> None:
    write_inputs(server.pfs)
    done = bmlocal("replay", str(DATA / "detail-default-ddp.json"), "-p", "p1", "--dry-run",
                   *PFS_SOURCES, url=server.url)
    assert done.returncode == 0, done.stderr
    assert "assumed" in done.stdout and "trainset_UrlSource" in done.stdout
    assert "dry run" in done.stderr
    assert server.ok("list", {"prjId": "p1", "start": 0, "num": 10})["total"] == 0


def test_a_taken_name_is_suffixed(server: Server) -> None:
    write_inputs(server.pfs)
    args = (str(DATA / "create-default.json"), "-p", "p1")
    first, second = (replay_json(*args, url=server.url) for _ in range(2))
    assert first["name"] == "cloud-create" and second["name"] == "cloud-create-replay"
    assert first["id"] != second["id"]
    detail = server.detail(second["id"])
    assert detail["name"] == "cloud-create-replay"
    assert detail["train_config"]["start_cmd"] == "API_KEY=abc123 python train.py"
    server.wait(second["id"], timeout=120)
    record = (server.data_dir / "jobs" / str(second["id"]) / "bml-run.json").read_text()
    assert "abc123" not in record and "API_KEY=***" in record


def write(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "job.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def bad_inputs() -> list[tuple[Any, str]]:
    wrong_type = cloud_job("detail-default-plain.json")
    wrong_type["resource_config"]["node_count"] = "2"
    missing_code = cloud_job("detail-default-plain.json")
    missing_code["train_config"]["code_path"] = "/bml-replay/nowhere"
    return [("{not json", "not JSON"),
            ({"log_id": 1, "error_code": 406012, "error_msg": "job does not exist"},
             "not a cloud job"),
            (wrong_type, "param[job.resource_config.node_count] invalid"),
            (missing_code, "train_config.code_path PFS /bml-replay/nowhere")]


def test_bad_input_exits_non_zero_and_creates_nothing(server: Server, tmp_path: Path
                                                      ) -> None:
    write_inputs(server.pfs)
    for data, message in bad_inputs():
        done = bmlocal("replay", write(tmp_path, data), "-p", "p1", *PFS_SOURCES,
                       url=server.url)
        assert done.returncode != 0 and message in done.stderr, done.stderr
    assert server.ok("list", {"prjId": "p1", "start": 0, "num": 10})["total"] == 0
    jobs = server.data_dir / "jobs"
    assert not jobs.exists() or not list(jobs.iterdir())


def test_a_pool_map_naming_a_missing_pool(make_server) -> None:
    server = make_server(config='[replay.pools]\nCPU_4C_16G = "nowhere"\n')
    done = bmlocal("replay", str(DATA / "detail-default-plain.json"), "-p", "p1",
                   *PFS_SOURCES, url=server.url)
    assert done.returncode == 1
    assert "replay.pools.CPU_4C_16G" in done.stderr and "'nowhere'" in done.stderr
    assert server.ok("list", {"prjId": "p1", "start": 0, "num": 10})["total"] == 0


def test_replay_needs_a_token_where_credentials_are_set(make_server) -> None:
    server = make_server(config='[[auth.credentials]]\nak = "ak1"\nsk = "sk1"\n'
                                'projects = ["p1"]\n')
    done = bmlocal("replay", str(DATA / "detail-default-plain.json"), "-p", "p1",
                   "--token", "forged", url=server.url)
    assert done.returncode == 1 and "110" in done.stderr
    done = bmlocal("replay", str(DATA / "detail-default-plain.json"), "-p", "p2", "--dry-run",
                   *PFS_SOURCES, "--ak", "ak1", "--sk", "sk1", url=server.url)
    assert done.returncode == 1 and "406037" in done.stderr



def test_the_route_answers_errors_with_envelopes(make_server) -> None:
    server = make_server(config='[[auth.credentials]]\nak = "ak1"\nsk = "sk1"\n'
                                'projects = ["p1"]\n')
    url = f"{server.url}/bmlocal/replay"
    answer = requests.post(url, data=b"{}", timeout=30)
    assert answer.status_code == 401 and answer.json()["error_code"] == 110
    token = requests.post(f"{server.url}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": "ak1", "client_secret": "sk1"},
        timeout=30).json()["access_token"]
    for body, message in ((b"[1]", "param[body] invalid"), (b"\xff{", "param[body] invalid"),
                          (b'{"job": 5}', "param[job] invalid"),
                          (b'{"job": {}, "sources": {"code": "FTP"}}', "param[sources]")):
        answer = requests.post(url, params={"access_token": token}, data=body,
                               headers={"Content-Type": "text/plain"}, timeout=30)
        assert answer.status_code == 400, answer.text
        assert answer.json()["error_code"] == 406001 and message in answer.json()["error_msg"]
    answer = requests.get(f"{server.url}/bmlocal/provenance", params={
        "access_token": token, "id": "1", "prjId": "p1"}, timeout=30)
    assert answer.status_code == 404 and answer.json()["error_code"] == 406012
