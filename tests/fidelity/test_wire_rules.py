"""The seed's types in detail, list bounds, the detail -> create round trip and UTF-8
request bodies, each on the wire against a real server."""
import json
from typing import Any

import pytest
import requests

from tests.support.server import BASE, Server, job_body

SEED_FIELDS = {"train_config": {"code_path", "start_cmd", "output_path", "env_type", "image",
                                "tag", "distribute_strategy", "repository_id",
                                "code_UrlSource", "output_UrlSource"},
               "resource_config": {"resource_type", "node_count", "resource_name",
                                   "max_duration", "gpu_type", "gpu_num", "cpu_num",
                                   "memory", "rdma"},
               "dataset_config": {"trainset_path", "evalset_path", "trainset_UrlSource",
                                  "evalset_UrlSource"}}


def error(payload: dict[str, Any]) -> tuple[int, str]:
    return payload.get("error_code", 0), payload.get("error_msg", "")


def raw_post(server: Server, method: str, data: bytes, content_type: str) -> dict[str, Any]:
    answer = requests.post(f"{server.url}{BASE}/{method}", data=data, timeout=30,
                           params={"access_token": server.token},
                           headers={"Content-Type": content_type})
    assert answer.status_code == 200, answer.text
    return answer.json()


# --- the seed's types in detail ---------------------------------------------------------

def test_detail_writes_cpu_num_as_a_string_and_gpu_num_memory_as_integers(
        open_server: Server) -> None:
    job_id = open_server.create("types", "true", **{"resource_config.cpu_num": 2,
                                                    "resource_config.memory": 3})
    config = open_server.detail(job_id)["resource_config"]
    assert config["cpu_num"] == "2"
    assert type(config["gpu_num"]) is int and config["memory"] == 3


# --- list bounds ---------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("num", 101), ("num", -1), ("num", 10**20),
                                          ("start", -1)])
def test_list_bounds_answer_406001(open_server: Server, field: str, value: int) -> None:
    payload = open_server.call("list", {"prjId": "p1", field: value})
    assert error(payload) == (406001, f"param[{field}] invalid")


@pytest.mark.parametrize("num", [0, 100])
def test_list_num_at_its_bounds_is_a_page(open_server: Server, num: int) -> None:
    result = open_server.ok("list", {"prjId": "bounds", "num": num})
    assert set(result) == {"total", "items"} and len(result["items"]) <= num


# --- a detail sent back to create -----------------------------------------------------------

def comparable(detail: dict[str, Any]) -> dict[str, Any]:
    return {section: {k: detail[section][k] for k in fields}
            for section, fields in SEED_FIELDS.items()} | {
        "name": detail["name"], "description": detail["description"]}


@pytest.mark.parametrize("changes", [
    {},  # every optional field left out: detail writes them as ""
    {"train_config.code_path": "", "train_config.distribute_strategy": "",
     "train_config.image": "", "train_config.tag": "", "resource_config.gpu_type": ""},
])
def test_a_detail_sent_back_to_create_makes_the_same_job(open_server: Server,
                                                         changes: dict[str, Any]) -> None:
    name = f"round-trip-{len(changes)}"
    first = open_server.wait(open_server.ok("create", job_body(name, "true", **changes)))
    assert first["train_config"]["distribute_strategy"] == ""
    again = open_server.ok("create", {**first, "prjId": "p-round-trip"})
    second = open_server.wait(again, project="p-round-trip")
    assert second["train_status"] == first["train_status"] == "SUCCESSED"
    assert comparable(second) == comparable(first)


@pytest.mark.parametrize("field", ["dataset_config.trainset_UrlSource",
                                   "dataset_config.evalset_UrlSource"])
def test_an_empty_source_with_a_path_is_still_406001(open_server: Server, field: str) -> None:
    kind = field.split(".")[1].split("_")[0]
    body = job_body("empty-source", "true", **{field: "",
                                                f"dataset_config.{kind}_path": "/data"})
    assert error(open_server.call("create", body)) == (406001, f"param[{field}] invalid")


def test_an_empty_resource_type_is_not_taken_as_absent(open_server: Server) -> None:
    body = job_body("empty-type", "true", **{"resource_config.resource_type": ""})
    assert error(open_server.call("create", body)) == (406028, "resource type error")


# --- request text ------------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/json", "text/plain",
                                          "application/x-www-form-urlencoded",
                                          "application/json; charset=latin-1", ""])
def test_a_utf8_json_body_is_read_whatever_the_content_type(open_server: Server,
                                                           content_type: str) -> None:
    name = f"naïve-名-{abs(hash(content_type))}"
    data = json.dumps(job_body(name, "true"), ensure_ascii=False).encode()
    job_id = raw_post(open_server, "create", data, content_type)["result"]
    assert open_server.detail(job_id)["name"] == name


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "utf-16-le", "utf-32", "gbk"])
def test_a_body_in_another_encoding_is_406001(open_server: Server, encoding: str) -> None:
    data = json.dumps(job_body("café-名" if encoding == "gbk" else "café", "true"),
                      ensure_ascii=False).encode(encoding)
    payload = raw_post(open_server, "create", data, f"application/json; charset={encoding}")
    assert error(payload) == (406001, "param[body] invalid")
