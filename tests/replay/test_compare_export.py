"""`bmlocal compare` on two runs of one job (equal) and after a dataset changed (differs,
and says which); `bmlocal export` -> create -> detail, the same job again."""
import json
from pathlib import Path

from tests.replay.support import DATA, bmlocal, replay_json, write_inputs
from tests.support.server import Server

PFS = ("--code-source", "PFS", "--dataset-source", "PFS", "--output-source", "PFS")
OUT = "bml-replay/out/default-plain"


def run_replay(server: Server) -> int:
    job_id = replay_json(str(DATA / "detail-default-plain.json"), "-p", "p1", *PFS,
                         url=server.url)["id"]
    info = server.wait(job_id, timeout=120)
    assert info["train_status"] == "SUCCESSED", server.node_log(job_id)
    return job_id


def compare(server: Server, a: str, b: str) -> tuple[int, dict]:
    done = bmlocal("compare", a, b, "-p", "p1", "--output", "json", url=server.url)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_two_runs_compare_equal_and_a_changed_dataset_differs(server: Server) -> None:
    write_inputs(server.pfs)
    first, second = run_replay(server), run_replay(server)
    rc, same = compare(server, str(first), str(second))
    assert rc == 0 and same["inputs_match"] and same["differ"] == []
    assert same["metrics"]["train_bytes"] == {"a": 12, "b": 12, "diff": 0}

    (server.pfs / "bml-replay/data/train/part-0.txt").write_text("1 2 3 4 5\n")
    third = run_replay(server)
    rc, changed = compare(server, str(first), str(third))
    assert rc == 1 and not changed["inputs_match"] and changed["differ"] == ["trainset"]
    assert changed["metrics"]["train_bytes"] == {"a": 12, "b": 16, "diff": 4}

    # the output path holds the last run's record; the kept copies stay apart by id
    latest = server.pfs / OUT / "bml-run.json"
    rc, by_file = compare(server, str(latest), str(third))
    assert rc == 0 and by_file["a"]["id"] == third
    table = bmlocal("compare", str(first), str(latest), "-p", "p1", url=server.url)
    assert table.returncode == 1 and "trainset" in table.stdout and "differs" in table.stdout
    assert "inputs differ: trainset" in table.stderr


def test_compare_refuses_what_is_not_a_record(server: Server, tmp_path: Path) -> None:
    not_record = tmp_path / "x.json"
    not_record.write_text('{"loss": 1}')
    done = bmlocal("compare", str(not_record), str(not_record), url=server.url)
    assert done.returncode == 2 and "not a bml-run.json record" in done.stderr
    done = bmlocal("compare", "999", "998", "-p", "p1", url=server.url)
    assert done.returncode == 1 and "406012" in done.stderr


def test_export_create_detail_round_trip(server: Server) -> None:
    write_inputs(server.pfs)
    original = server.create("tuned", "python train.py --lr 0.1", **{
        "train_config.code_path": "/bml-replay/code",
        "dataset_config.trainset_UrlSource": "PFS",
        "dataset_config.trainset_path": "/bml-replay/data/train",
        "dataset_config.evalset_UrlSource": "PFS",
        "dataset_config.evalset_path": "/bml-replay/data/eval",
        "resource_config.cpu_num": 2, "resource_config.memory": 3,
        "resource_config.max_duration": 5})
    done = bmlocal("export", str(original), "-p", "p1", "--output", "json", url=server.url)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["prjId"] == "p1" and body["train_config"]["start_cmd"] == \
        "python train.py --lr 0.1"
    copy = server.ok("create", {**body, "name": "tuned-again"})
    a, b = server.detail(original), server.detail(copy)
    for section in ("train_config", "resource_config", "dataset_config"):
        assert a[section] == b[section], section
    assert a["description"] == b["description"]


def test_export_of_a_replayed_job_gives_back_the_cloud_resources(make_server) -> None:
    server = make_server(config='[replay]\non_shortfall = "scale"\n[replay.pools]\n'
                                'GPU_V100 = "CPU_4C_16G"\n')
    write_inputs(server.pfs)
    answer = json.loads((DATA / "answer-gpu-ddp.json").read_text())
    path = server.root / "gpu.json"
    path.write_text(json.dumps(answer))
    result = replay_json(str(path), "-p", "p1", "--dry-run", *PFS, url=server.url)
    assert result["body"]["resource_config"]["resource_name"] == "CPU_4C_16G"
    result = replay_json(str(path), "-p", "p1", *PFS, url=server.url)
    done = bmlocal("export", str(result["id"]), "-p", "p1", "--output", "json", url=server.url)
    exported = json.loads(done.stdout)["resource_config"]
    cloud = answer["result"]["resource_config"]
    assert (exported["resource_name"], exported["node_count"], exported["gpu_num"]) == \
        (cloud["resource_name"], cloud["node_count"], cloud["gpu_num"])
    server.ok("stop", {"id": result["id"], "prjId": "p1"})
