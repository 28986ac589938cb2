"""Reading cloud jobs and mapping them onto this machine's pools: no server needed."""
import pytest

from bmlocal.config_model import validate
from bmlocal.replay.cloudjob import ReplayInputError, parse
from bmlocal.replay.config import ReplayConfig
from bmlocal.replay.export import without_secrets
from bmlocal.replay.mapping import Machine, MappingError, map_job
from bmlocal.runtime.pools import Pool, Pools, public_pools
from tests.replay.support import STRATEGY_FILES, cloud_job

GPU_BOX = Pool("gpu-box", "USER", 2, 2, 8, 32, "T4")


def machine(gpus: int = 0, image: tuple[str, str] = ("kept", "in the local engine")
            ) -> Machine:
    pools = Pools(public_pools(gpus, "") + [GPU_BOX])
    return Machine(pools, gpus, (), lambda *_: image)


@pytest.mark.parametrize("name", STRATEGY_FILES)
def test_every_detail_becomes_a_create_body(name: str) -> None:
    detail = cloud_job(name)
    job = parse(detail, {}, {"code": "BOS", "dataset": "BOS", "output": "BOS"})
    assert job.kind == "detail" and job.cloud_id == detail["id"] and job.project is None
    train, rc = job.body["train_config"], job.body["resource_config"]
    assert train["start_cmd"] == detail["train_config"]["start_cmd"]
    assert train.get("distribute_strategy", "") == detail["train_config"]["distribute_strategy"]
    assert train["env_type"] == detail["train_config"]["env_type"]
    assert rc["cpu_num"] == int(detail["resource_config"]["cpu_num"])  # "2" in the detail
    assert job.body["dataset_config"]["trainset_UrlSource"] == "BOS"
    assert {s.field: s.origin for s in job.sources} == {
        "code": "config", "output": "config", "trainset": "config", "evalset": "config"}


def test_a_whole_detail_answer_and_a_create_body_are_read() -> None:
    job = parse(cloud_job("answer-gpu-ddp.json"))
    assert job.kind == "detail" and job.body["resource_config"]["gpu_num"] == 8
    create = parse(cloud_job("create-default.json"), {"code": "BOS"})
    assert create.kind == "create" and create.project == "cloudprj"
    assert {s.field: (s.value, s.origin) for s in create.sources} == {
        "code": ("PFS", "file"), "output": ("PFS", "file"), "trainset": ("PFS", "file")}


@pytest.mark.parametrize("data, field", [
    ({"hello": "world"}, "job"),
    ([1, 2], "job"),
    ({"name": "x", "train_config": {"start_cmd": "a", "output_path": "/o"}}, "resource_config"),
])
def test_not_a_job_names_what_is_missing(data: object, field: str) -> None:
    with pytest.raises(ReplayInputError) as caught:
        parse(data)
    assert caught.value.field == field


@pytest.mark.parametrize("change, field", [
    (("resource_config", "node_count", "2"), "resource_config.node_count"),
    (("resource_config", "cpu_num", "four"), "resource_config.cpu_num"),
    (("resource_config", "rdma", "yes"), "resource_config.rdma"),
    (("train_config", "start_cmd", 7), "train_config.start_cmd"),
    (("resource_config", "gpu_num", True), "resource_config.gpu_num"),
])
def test_a_field_of_the_wrong_type_is_named(change: tuple, field: str) -> None:
    detail = cloud_job("detail-default-ddp.json")
    section, key, value = change
    detail[section][key] = value
    with pytest.raises(ReplayInputError) as caught:
        parse(detail)
    assert caught.value.field == field and repr(value) in str(caught.value)


def test_a_pool_map_and_scaling_keep_per_node_figures() -> None:
    job = parse(cloud_job("answer-gpu-ddp.json"))  # 4 nodes x 8 V100, 12 CPUs, 64 GB, RDMA
    config = ReplayConfig(on_shortfall="scale", gpu_types={"V100": "gpu-box"})
    body, rows = map_job(job, config, machine(gpus=2))
    rc = body["resource_config"]
    assert (rc["resource_type"], rc["resource_name"], rc["gpu_type"]) == ("USER", "gpu-box", "T4")
    assert (rc["gpu_num"], rc["cpu_num"], rc["memory"], rc["node_count"]) == (2, 8, 32, 1)
    outcome = {r.field: r.outcome for r in rows}
    assert outcome["resource_name"] == "mapped" and outcome["gpu_type"] == "mapped"
    assert outcome["gpu_num"] == outcome["node_count"] == "scaled"
    assert outcome["rdma"] == "unavailable" and outcome["trainset_UrlSource"] == "assumed"
    node_row = next(r for r in rows if r.field == "node_count")
    assert (node_row.cloud, node_row.local) == ("4", "1") and "per-node" in node_row.note


def test_refuse_names_the_field_that_does_not_fit() -> None:
    job = parse(cloud_job("answer-gpu-ddp.json"))
    with pytest.raises(MappingError) as caught:
        map_job(job, ReplayConfig(pools={"GPU_V100": "gpu-box"}), machine(gpus=2))
    assert caught.value.field == "resource_config.gpu_num" and caught.value.code == 406104


def test_a_pool_map_naming_a_missing_pool_is_refused() -> None:
    job = parse(cloud_job("answer-gpu-ddp.json"))
    with pytest.raises(MappingError) as caught:
        map_job(job, ReplayConfig(pools={"GPU_V100": "no-such-pool"}), machine())
    assert caught.value.field == "replay.pools.GPU_V100" and "no-such-pool" in str(caught.value)


def test_an_unmapped_cloud_pool_says_how_to_map_it() -> None:
    job = parse(cloud_job("detail-default-plain.json"))
    job.body["resource_config"]["resource_name"] = "tenant-pool-9"
    with pytest.raises(MappingError) as caught:
        map_job(job, ReplayConfig(), machine())
    assert "[replay.pools] tenant-pool-9" in str(caught.value)


def test_an_image_that_cannot_be_had_is_unavailable() -> None:
    job = parse(cloud_job("detail-ccr-ddp.json"))
    _, rows = map_job(job, ReplayConfig(), machine(image=("unavailable", "registry down")))
    image = next(r for r in rows if r.field == "image")
    assert (image.outcome, image.note) == ("unavailable", "registry down")


def test_the_replay_section_is_validated_by_its_model() -> None:
    _, sections, problems = validate({"replay": {"on_shortfall": "scale",
                                                 "pools": {"GPU_V100": "gpu-box"}}})
    assert not problems and sections["replay"].pools == {"GPU_V100": "gpu-box"}
    _, _, problems = validate({"replay": {"on_shortfall": "shrink", "colour": 1}})
    assert any(p.startswith("replay.on_shortfall") for p in problems)
    assert "replay.colour: unknown key" in problems


def test_secrets_are_masked() -> None:
    body = without_secrets({"train_config": {"start_cmd":
        "API_KEY=abc123 python t.py --password hunter2 --url http://u:pw@h/x --lr 0.1"}})
    cmd = body["train_config"]["start_cmd"]
    assert "abc123" not in cmd and "hunter2" not in cmd and ":pw@" not in cmd
    assert "--lr 0.1" in cmd and "API_KEY=***" in cmd
