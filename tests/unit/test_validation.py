"""CreateValidator against the contract's validation table: each rule's code and message,
the order of the rules, and the JobSpec a valid body becomes."""
import os
from pathlib import Path
from typing import Any

import pytest

from bmlocal.api.validation import CreateValidator
from bmlocal.errors import ApiError
from bmlocal.runtime.pools import Pools, public_pools, user_pools
from bmlocal.runtime.spec import JobSpec
from bmlocal.runtime.storage.localbos import LocalBosStorage
from bmlocal.runtime.storage.pfs import PfsStorage
from tests.support.server import DELETE, apply_changes, job_body

USER_POOL = {"name": "team-a100", "nodes": 2, "gpus_per_node": 8, "cpus_per_node": 32,
             "memory_gb": 256, "gpu_type": "A100"}


@pytest.fixture
def validator(tmp_path: Path) -> CreateValidator:
    """PFS holds /code/train.py, /data/train, /data/eval and /escape, a symbolic link out of
    the root; BOS holds the bucket my-bucket with code/train.py and data/eval."""
    pfs, bos, outside = tmp_path / "pfs", tmp_path / "bos", tmp_path / "outside"
    for directory in (pfs / "code", pfs / "data" / "train", pfs / "data" / "eval",
                      bos / "my-bucket" / "code", bos / "my-bucket" / "data" / "eval", outside):
        directory.mkdir(parents=True)
    (pfs / "code" / "train.py").write_text("print('train')\n")
    (bos / "my-bucket" / "code" / "train.py").write_text("print('train')\n")
    (outside / "secret.txt").write_text("secret\n")
    os.symlink(outside, pfs / "escape")
    pools = Pools(public_pools(2, "V100") + user_pools([USER_POOL]))
    return CreateValidator({"PFS": PfsStorage(pfs), "BOS": LocalBosStorage(bos)}, pools.find)


def body(**changes: Any) -> dict[str, Any]:
    """A valid DEFAULT body on CPU_4C_16G, with dotted changes (value DELETE removes)."""
    return apply_changes(job_body("job", "python train.py"), changes)


def ccr(**changes: Any) -> dict[str, Any]:
    """A valid CCR body."""
    return body(**{"train_config.env_type": "CCR", "train_config.image": "/ns-project/paddle",
                   "train_config.tag": "2.5", "train_config.distribute_strategy": "PaddleFleet",
                   **changes})


def error_of(validator: CreateValidator, request: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(ApiError) as caught:
        validator.parse(request, "p1")
    return caught.value.code, caught.value.message


def invalid(field: str) -> tuple[int, str]:
    return 406001, f"param[{field}] invalid"


def test_the_base_bodies_are_valid(validator: CreateValidator) -> None:
    assert validator.parse(body(), "p1").name == "job"
    assert validator.parse(ccr(), "p1").env_type == "CCR"


# --- rule 1: presence and types ------------------------------------------------------

REQUIRED = ["name", "description", "train_config", "train_config.env_type",
            "train_config.output_UrlSource", "train_config.output_path",
            "train_config.code_UrlSource", "train_config.start_cmd", "dataset_config",
            "resource_config", "resource_config.node_count", "resource_config.resource_name",
            "resource_config.max_duration"]


@pytest.mark.parametrize("field", REQUIRED)
def test_a_missing_required_field_is_406001_with_its_dotted_name(
        validator: CreateValidator, field: str) -> None:
    assert error_of(validator, body(**{field: DELETE})) == invalid(field)


@pytest.mark.parametrize("field", REQUIRED)
def test_a_null_required_field_is_406001_with_its_dotted_name(
        validator: CreateValidator, field: str) -> None:
    assert error_of(validator, body(**{field: None})) == invalid(field)


WRONG_TYPES = [
    ("name", 5), ("name", ["job"]), ("description", 1), ("description", {"a": 1}),
    ("train_config", "DEFAULT"), ("train_config", []), ("dataset_config", []),
    ("dataset_config", "x"), ("resource_config", 1), ("resource_config", [1]),
    ("train_config.env_type", 1), ("train_config.output_UrlSource", ["PFS"]),
    ("train_config.output_path", 1), ("train_config.code_UrlSource", True),
    ("train_config.code_path", 1), ("train_config.start_cmd", ["true"]),
    ("train_config.image", 1), ("train_config.tag", 2.5), ("train_config.repository_id", 7),
    ("train_config.distribute_strategy", {}), ("dataset_config.trainset_UrlSource", 1),
    ("dataset_config.trainset_path", 1), ("dataset_config.evalset_UrlSource", False),
    ("dataset_config.evalset_path", []), ("resource_config.resource_type", 1),
    ("resource_config.resource_name", 1), ("resource_config.gpu_type", 1),
    # integers: a JSON boolean, 1.0 and "1" are not integers
    ("resource_config.node_count", True), ("resource_config.node_count", False),
    ("resource_config.node_count", 1.0), ("resource_config.node_count", "1"),
    ("resource_config.max_duration", True), ("resource_config.max_duration", 1.0),
    ("resource_config.max_duration", "1"),
    ("resource_config.gpu_num", True), ("resource_config.gpu_num", 1.0),
    ("resource_config.gpu_num", "1"), ("resource_config.cpu_num", False),
    ("resource_config.cpu_num", 2.0), ("resource_config.cpu_num", "2.0"),
    ("resource_config.cpu_num", " 2"), ("resource_config.cpu_num", "+2"),
    ("resource_config.cpu_num", "02"), ("resource_config.cpu_num", "-1"),
    ("resource_config.memory", True), ("resource_config.memory", 8.0),
    ("resource_config.memory", "8"),
    # and the per-node amounts must not be negative
    ("resource_config.gpu_num", -1), ("resource_config.cpu_num", -1),
    ("resource_config.memory", -1),
    ("resource_config.rdma", 1), ("resource_config.rdma", "true"),
]


@pytest.mark.parametrize("field, value", WRONG_TYPES)
def test_a_field_of_the_wrong_type_is_406001_with_its_dotted_name(
        validator: CreateValidator, field: str, value: Any) -> None:
    assert error_of(validator, body(**{field: value})) == invalid(field)


@pytest.mark.parametrize("field", ["resource_config.gpu_num", "resource_config.cpu_num",
                                   "resource_config.memory"])
def test_zero_per_node_amounts_are_valid(validator: CreateValidator, field: str) -> None:
    validator.parse(body(**{field: 0}), "p1")


def test_cpu_num_is_taken_as_detail_writes_it(validator: CreateValidator) -> None:
    """detail writes cpu_num as a string (the seed's type), so create takes that form."""
    assert validator.parse(body(**{"resource_config.cpu_num": "2"}), "p1").cpu_num == 2


@pytest.mark.parametrize("kind", ["trainset", "evalset"])
def test_a_dataset_path_without_its_url_source_is_406001(
        validator: CreateValidator, kind: str) -> None:
    request = body(**{f"dataset_config.{kind}_path": f"/data/{kind[:-3]}"})
    assert error_of(validator, request) == invalid(f"dataset_config.{kind}_UrlSource")


# --- name and description ------------------------------------------------------------

NAME_ERRORS = [
    ("", 406015, "job name cannot be empty"),
    ("   ", 406015, "job name cannot be empty"),
    ("\t\n", 406015, "job name cannot be empty"),
    ("\u3000", 406015, "job name cannot be empty"),  # an ideographic space
    ("a" * 51, 406016, "the job name is too long"),
    ("名" * 51, 406016, "the job name is too long"),
    ("é" * 51, 406016, "the job name is too long"),
    ("a" * 50 + "😀", 406016, "the job name is too long"),  # length before emoji
    ("job 😀", 406036, "the emoji character is not supported"),
    ("job 🇨🇳", 406036, "the emoji character is not supported"),  # regional indicators
    ("job \U0001F1E8", 406036, "the emoji character is not supported"),  # one indicator
    ("job ❤\ufe0f", 406036, "the emoji character is not supported"),
    ("job a\ufe0f", 406036, "the emoji character is not supported"),  # U+FE0F alone
    ("job ✈", 406036, "the emoji character is not supported"),  # Extended_Pictographic
]


@pytest.mark.parametrize("name, code, message", NAME_ERRORS)
def test_a_bad_name_is_refused(validator: CreateValidator, name: str, code: int,
                               message: str) -> None:
    assert error_of(validator, body(name=name)) == (code, message)


@pytest.mark.parametrize("name", ["a", "a" * 50, "名" * 50, "训练任务-1 ok", " padded "])
def test_a_name_of_1_to_50_code_points_without_emoji_is_valid(
        validator: CreateValidator, name: str) -> None:
    assert validator.parse(body(name=name), "p1").name == name


DESCRIPTION_ERRORS = [
    ("", 406017, "job description cannot be empty"),
    ("  \n ", 406017, "job description cannot be empty"),
    ("d" * 501, 406018, "job description is too long"),
    ("描" * 501, 406018, "job description is too long"),
    ("a run 😀", 406036, "the emoji character is not supported"),
    ("a run 🇯🇵", 406036, "the emoji character is not supported"),
    ("a run \ufe0f", 406036, "the emoji character is not supported"),
]


@pytest.mark.parametrize("description, code, message", DESCRIPTION_ERRORS)
def test_a_bad_description_is_refused(validator: CreateValidator, description: str,
                                      code: int, message: str) -> None:
    assert error_of(validator, body(description=description)) == (code, message)


@pytest.mark.parametrize("description", ["d", "d" * 500, "描" * 500])
def test_a_description_of_1_to_500_code_points_is_valid(
        validator: CreateValidator, description: str) -> None:
    validator.parse(body(description=description), "p1")


# --- other strings over 1024 ---------------------------------------------------------

LONG_FIELDS = ["train_config.start_cmd", "train_config.output_path", "train_config.code_path",
               "train_config.image", "train_config.tag", "train_config.repository_id",
               "dataset_config.trainset_path", "resource_config.gpu_type",
               "resource_config.resource_name", "train_config.env_type"]


@pytest.mark.parametrize("field", LONG_FIELDS)
def test_another_string_over_1024_code_points_is_406038(
        validator: CreateValidator, field: str) -> None:
    request = body(**{field: "/" + "名" * 1024, "dataset_config.trainset_UrlSource": "PFS"})
    assert error_of(validator, request) == (406038, "parameter too long")


@pytest.mark.parametrize("field", ["train_config.tag", "train_config.repository_id",
                                   "resource_config.gpu_type", "train_config.start_cmd"])
def test_another_string_of_1024_code_points_is_valid(
        validator: CreateValidator, field: str) -> None:
    validator.parse(body(**{field: "名" * 1024}), "p1")


# --- env_type and sources ------------------------------------------------------------

@pytest.mark.parametrize("env_type", ["", "GPU", "default", "ccr", " CCR"])
def test_an_unknown_env_type_is_406034(validator: CreateValidator, env_type: str) -> None:
    request = body(**{"train_config.env_type": env_type})
    assert error_of(validator, request) == (406034, "training environment error")


@pytest.mark.parametrize("field, value", [
    ("train_config.output_UrlSource", "S3"), ("train_config.output_UrlSource", ""),
    ("train_config.code_UrlSource", "bos"), ("dataset_config.trainset_UrlSource", "HDFS"),
    ("dataset_config.evalset_UrlSource", "pfs"),
])
def test_a_url_source_other_than_bos_or_pfs_is_406001(
        validator: CreateValidator, field: str, value: str) -> None:
    assert error_of(validator, body(**{field: value})) == invalid(field)


# --- paths ---------------------------------------------------------------------------

@pytest.mark.parametrize("source, path", [
    ("PFS", "/code/nope.py"),  # not found
    ("PFS", "/code/../code/train.py"),  # a `..` component, even one that stays inside
    ("PFS", "code/train.py"),  # relative
    ("PFS", "/escape/secret.txt"),  # a symbolic link pointing out of the root
    ("BOS", "/Bad_Bucket/code/train.py"),  # not a valid bucket name
    ("BOS", "bos://ab/code/train.py"),  # too short for a bucket name
    ("BOS", "bos://my-bucket/nope.py"),  # missing object
    ("BOS", "my-bucket/code/train.py"),  # neither /bucket/key nor bos://
])
def test_a_bad_code_path_is_406019(validator: CreateValidator, source: str,
                                   path: str) -> None:
    request = body(**{"train_config.code_UrlSource": source, "train_config.code_path": path})
    assert error_of(validator, request) == (406019, "code file address error")


@pytest.mark.parametrize("source, path", [
    ("PFS", "/code/train.py"), ("PFS", "/code"), ("BOS", "/my-bucket/code/train.py"),
    ("BOS", "bos://my-bucket/code/train.py"), ("BOS", "bos://my-bucket/code/"),
])
def test_a_code_path_found_in_its_source_is_valid(validator: CreateValidator, source: str,
                                                  path: str) -> None:
    request = body(**{"train_config.code_UrlSource": source, "train_config.code_path": path})
    assert validator.parse(request, "p1").code_path == path


def test_an_empty_code_path_counts_as_not_given(validator: CreateValidator) -> None:
    assert validator.parse(body(**{"train_config.code_path": ""}), "p1").code_path is None


@pytest.mark.parametrize("start_cmd", ["", " ", "\n\t  "])
def test_a_blank_start_cmd_is_406020(validator: CreateValidator, start_cmd: str) -> None:
    request = body(**{"train_config.start_cmd": start_cmd})
    assert error_of(validator, request) == (406020, "startup command error")


@pytest.mark.parametrize("source, path", [
    ("PFS", ""), ("PFS", "   "), ("PFS", "/out/../x"), ("PFS", "out/x"),
    ("PFS", "/escape/out"), ("BOS", "/Bad_Bucket/out"), ("BOS", "bos://x/out"),
    ("BOS", "bos://my-bucket/a/../b"),
])
def test_a_bad_output_path_is_406021(validator: CreateValidator, source: str,
                                     path: str) -> None:
    request = body(**{"train_config.output_UrlSource": source,
                      "train_config.output_path": path})
    assert error_of(validator, request) == (406021, "output path error")


@pytest.mark.parametrize("source, path", [
    ("PFS", "/not/yet/there"), ("BOS", "bos://my-bucket/new/out"), ("BOS", "/my-bucket")])
def test_an_output_path_need_not_exist(validator: CreateValidator, source: str,
                                       path: str) -> None:
    request = body(**{"train_config.output_UrlSource": source,
                      "train_config.output_path": path})
    assert validator.parse(request, "p1").output_path == path


DATASET_PATHS = [
    ("PFS", "/data/nope"), ("PFS", "/data/../data/train"), ("PFS", "data/train"),
    ("PFS", "/escape"), ("BOS", "/Bad_Bucket/data"), ("BOS", "bos://my-bucket/nope"),
]


@pytest.mark.parametrize("dataset, code, message", [
    ("trainset", 406022, "training dataset address error"),
    ("evalset", 406023, "test dataset address error")])
@pytest.mark.parametrize("source, path", DATASET_PATHS)
def test_a_bad_dataset_path_is_refused(validator: CreateValidator, dataset: str, code: int,
                                       message: str, source: str, path: str) -> None:
    request = body(**{f"dataset_config.{dataset}_UrlSource": source,
                      f"dataset_config.{dataset}_path": path})
    assert error_of(validator, request) == (code, message)


def test_empty_dataset_paths_count_as_not_given(validator: CreateValidator) -> None:
    request = body(**{"dataset_config.trainset_path": "", "dataset_config.evalset_path": ""})
    spec = validator.parse(request, "p1")
    assert (spec.trainset_path, spec.evalset_path) == (None, None)


def test_an_empty_dataset_config_is_valid(validator: CreateValidator) -> None:
    assert validator.parse(body(dataset_config={}), "p1").trainset_source is None


# --- CCR image -------------------------------------------------------------------------

@pytest.mark.parametrize("field, value, code, message", [
    ("train_config.image", DELETE, 406030, "missing image parameters"),
    ("train_config.image", "", 406030, "missing image parameters"),
    ("train_config.image", "  ", 406030, "missing image parameters"),
    ("train_config.tag", DELETE, 406031, "missing tag parameters"),
    ("train_config.tag", "", 406031, "missing tag parameters"),
    ("train_config.distribute_strategy", DELETE, 406032,
     "missing distributed strategy parameter"),
    ("train_config.distribute_strategy", "", 406032, "missing distributed strategy parameter"),
])
def test_a_ccr_job_without_image_tag_or_strategy_is_refused(
        validator: CreateValidator, field: str, value: Any, code: int, message: str) -> None:
    assert error_of(validator, ccr(**{field: value})) == (code, message)


@pytest.mark.parametrize("image", ["paddle", "ns/paddle", "/ns", "/ns/", "//paddle",
                                   "registry.example.com/ns/paddle", "/ns/pad dle"])
def test_a_ccr_image_not_of_the_form_namespace_name_is_406033(
        validator: CreateValidator, image: str) -> None:
    request = ccr(**{"train_config.image": image})
    assert error_of(validator, request) == (406033, "image registry is incorrect")


def test_the_image_of_a_default_job_is_not_checked(validator: CreateValidator) -> None:
    assert validator.parse(body(**{"train_config.image": "paddle"}), "p1").image == "paddle"


@pytest.mark.parametrize("make", [body, ccr])
@pytest.mark.parametrize("strategy", ["MPI", "pytorchddp", "Horovod "])
def test_an_unknown_distribute_strategy_is_406001(validator: CreateValidator, make: Any,
                                                  strategy: str) -> None:
    request = make(**{"train_config.distribute_strategy": strategy})
    assert error_of(validator, request) == invalid("train_config.distribute_strategy")


def test_an_empty_distribute_strategy_counts_as_not_given(
        validator: CreateValidator) -> None:
    request = body(**{"train_config.distribute_strategy": ""})
    assert validator.parse(request, "p1").distribute_strategy is None


def test_a_project_id_over_1024_code_points_is_406038(validator: CreateValidator) -> None:
    with pytest.raises(ApiError) as caught:
        validator.parse(body(), "p" * 1025)
    assert caught.value.code == 406038


@pytest.mark.parametrize("strategy", ["Horovod", "PaddleFleet", "PytorchDDP"])
def test_a_default_job_may_name_a_known_strategy(validator: CreateValidator,
                                                 strategy: str) -> None:
    request = body(**{"train_config.distribute_strategy": strategy})
    assert validator.parse(request, "p1").distribute_strategy == strategy


# --- resources -----------------------------------------------------------------------

@pytest.mark.parametrize("resource_type", ["", "PRIVATE", "public", "user"])
def test_an_unknown_resource_type_is_406028(validator: CreateValidator,
                                            resource_type: str) -> None:
    request = body(**{"resource_config.resource_type": resource_type})
    assert error_of(validator, request) == (406028, "resource type error")


def test_an_absent_resource_type_means_public(validator: CreateValidator) -> None:
    spec = validator.parse(body(**{"resource_config.resource_type": DELETE}), "p1")
    assert (spec.resource_type, spec.resource_name) == ("PUBLIC", "CPU_4C_16G")


@pytest.mark.parametrize("resource_type, resource_name", [
    ("PUBLIC", "GPU_A100"), ("PUBLIC", ""), ("PUBLIC", "team-a100"), ("USER", "CPU_4C_16G"),
    ("USER", "GPU_V100"), ("USER", "team-A100"),
])
def test_a_resource_name_that_is_no_pool_of_that_type_is_406100(
        validator: CreateValidator, resource_type: str, resource_name: str) -> None:
    request = body(**{"resource_config.resource_type": resource_type,
                      "resource_config.resource_name": resource_name})
    assert error_of(validator, request) == (406100, "resource pool does not exist")


@pytest.mark.parametrize("resource_type, resource_name, node_count", [
    ("PUBLIC", "CPU_4C_16G", 0), ("PUBLIC", "CPU_4C_16G", 5), ("PUBLIC", "GPU_V100", 5),
    ("PUBLIC", "CPU_16C_64G", -1), ("USER", "team-a100", 3), ("USER", "team-a100", 0),
])
def test_a_node_count_outside_the_pools_limit_is_406101(
        validator: CreateValidator, resource_type: str, resource_name: str,
        node_count: int) -> None:
    request = body(**{"resource_config.resource_type": resource_type,
                      "resource_config.resource_name": resource_name,
                      "resource_config.node_count": node_count})
    assert error_of(validator, request) == (406101, "node over limit")


@pytest.mark.parametrize("resource_type, resource_name, node_count", [
    ("PUBLIC", "CPU_4C_16G", 1), ("PUBLIC", "CPU_4C_16G", 4), ("USER", "team-a100", 2)])
def test_a_node_count_within_the_pools_limit_is_valid(
        validator: CreateValidator, resource_type: str, resource_name: str,
        node_count: int) -> None:
    request = body(**{"resource_config.resource_type": resource_type,
                      "resource_config.resource_name": resource_name,
                      "resource_config.node_count": node_count})
    assert validator.parse(request, "p1").node_count == node_count


@pytest.mark.parametrize("max_duration", [0, 169, -1, 10**6])
def test_a_max_duration_outside_1_to_168_is_406001(validator: CreateValidator,
                                                   max_duration: int) -> None:
    request = body(**{"resource_config.max_duration": max_duration})
    assert error_of(validator, request) == invalid("resource_config.max_duration")


@pytest.mark.parametrize("max_duration", [1, 168])
def test_a_max_duration_of_1_to_168_is_valid(validator: CreateValidator,
                                             max_duration: int) -> None:
    request = body(**{"resource_config.max_duration": max_duration})
    assert validator.parse(request, "p1").max_duration == max_duration


@pytest.mark.parametrize("resource_name, field, value, code, message", [
    ("CPU_4C_16G", "cpu_num", 5, 406102, "cpu over limit"),
    ("CPU_16C_64G", "cpu_num", 17, 406102, "cpu over limit"),
    ("CPU_4C_16G", "memory", 17, 406103, "memory over limit"),
    ("CPU_16C_64G", "memory", 65, 406103, "memory over limit"),
    ("CPU_4C_16G", "gpu_num", 1, 406104, "gpu over limit"),
    ("GPU_V100", "gpu_num", 3, 406104, "gpu over limit"),
])
def test_more_than_one_node_of_the_pool_has_is_refused(
        validator: CreateValidator, resource_name: str, field: str, value: int, code: int,
        message: str) -> None:
    request = body(**{"resource_config.resource_name": resource_name,
                      f"resource_config.{field}": value})
    assert error_of(validator, request) == (code, message)


@pytest.mark.parametrize("resource_name, field, value", [
    ("CPU_4C_16G", "cpu_num", 4), ("CPU_4C_16G", "memory", 16), ("GPU_V100", "gpu_num", 2),
    ("CPU_16C_64G", "cpu_num", 16), ("CPU_16C_64G", "memory", 64)])
def test_exactly_what_one_node_of_the_pool_has_is_valid(
        validator: CreateValidator, resource_name: str, field: str, value: int) -> None:
    request = body(**{"resource_config.resource_name": resource_name,
                      f"resource_config.{field}": value})
    validator.parse(request, "p1")


def test_a_user_pool_limits_come_from_its_configuration(validator: CreateValidator) -> None:
    request = body(**{"resource_config.resource_type": "USER",
                      "resource_config.resource_name": "team-a100",
                      "resource_config.gpu_num": 9})
    assert error_of(validator, request) == (406104, "gpu over limit")


# --- rule order: where several rules fail, the first wins ------------------------------

ORDER = [
    ("a missing field before a bad env_type",
     {"name": DELETE, "train_config.env_type": "GPU"}, invalid("name")),
    ("a wrong type before an empty name",
     {"name": "", "resource_config.gpu_num": "1"}, invalid("resource_config.gpu_num")),
    ("a missing dataset url source before an empty name",
     {"name": "", "dataset_config.evalset_path": "/data/eval"},
     invalid("dataset_config.evalset_UrlSource")),
    ("an empty name before a long description",
     {"name": " ", "description": "d" * 501}, (406015, "job name cannot be empty")),
    ("an emoji description before a long start_cmd",
     {"description": "😀", "train_config.start_cmd": "x" * 1025},
     (406036, "the emoji character is not supported")),
    ("a long env_type before its value",
     {"train_config.env_type": "X" * 1025}, (406038, "parameter too long")),
    ("a bad env_type before a bad url source",
     {"train_config.env_type": "GPU", "train_config.code_UrlSource": "S3"},
     (406034, "training environment error")),
    ("a bad url source before a missing code path",
     {"train_config.output_UrlSource": "S3", "train_config.code_path": "/nope"},
     invalid("train_config.output_UrlSource")),
    ("a missing code path before a blank start_cmd",
     {"train_config.code_path": "/nope", "train_config.start_cmd": " "},
     (406019, "code file address error")),
    ("a blank start_cmd before a bad output path",
     {"train_config.start_cmd": "", "train_config.output_path": "out"},
     (406020, "startup command error")),
    ("a bad output path before a missing trainset",
     {"train_config.output_path": "/a/../b", "dataset_config.trainset_UrlSource": "PFS",
      "dataset_config.trainset_path": "/nope"}, (406021, "output path error")),
    ("a missing trainset before a missing evalset",
     {"dataset_config": {"trainset_UrlSource": "PFS", "trainset_path": "/nope",
                         "evalset_UrlSource": "PFS", "evalset_path": "/nope"}},
     (406022, "training dataset address error")),
    ("a missing evalset before a CCR job without image",
     {"train_config.env_type": "CCR", "dataset_config.evalset_UrlSource": "PFS",
      "dataset_config.evalset_path": "/nope"}, (406023, "test dataset address error")),
    ("a CCR job without image before a bad resource type",
     {"train_config.env_type": "CCR", "resource_config.resource_type": "X"},
     (406030, "missing image parameters")),
    ("a bad resource type before a node count of 0",
     {"resource_config.resource_type": "X", "resource_config.node_count": 0},
     (406028, "resource type error")),
    ("an unknown pool before a node count of 99",
     {"resource_config.resource_name": "NOPE", "resource_config.node_count": 99},
     (406100, "resource pool does not exist")),
    ("a node count of 5 before a max_duration of 0",
     {"resource_config.node_count": 5, "resource_config.max_duration": 0},
     (406101, "node over limit")),
    ("a max_duration of 169 before too many CPUs",
     {"resource_config.max_duration": 169, "resource_config.cpu_num": 999},
     invalid("resource_config.max_duration")),
    ("too many CPUs before too much memory and too many GPUs",
     {"resource_config.cpu_num": 99, "resource_config.memory": 999,
      "resource_config.gpu_num": 9}, (406102, "cpu over limit")),
    ("too much memory before too many GPUs",
     {"resource_config.memory": 999, "resource_config.gpu_num": 9},
     (406103, "memory over limit")),
]


@pytest.mark.parametrize("changes, expected", [(c, e) for _, c, e in ORDER],
                         ids=[case for case, _, _ in ORDER])
def test_the_first_failing_rule_wins(validator: CreateValidator, changes: dict[str, Any],
                                     expected: tuple[int, str]) -> None:
    assert error_of(validator, body(**changes)) == expected


# --- what a valid body becomes ---------------------------------------------------------

def test_unknown_fields_are_ignored(validator: CreateValidator) -> None:
    request = body(**{"extra": {"x": 1}, "train_config.flavour": "vanilla",
                      "dataset_config.note": 5, "resource_config.zone": ["a"]})
    assert validator.parse(request, "p1") == validator.parse(body(), "p1")


def test_a_full_default_body_gives_its_job_spec(validator: CreateValidator) -> None:
    request = {
        "name": "resnet-训练", "description": "first run", "prjId": "ignored-here",
        "train_config": {
            "env_type": "DEFAULT", "output_UrlSource": "BOS",
            "output_path": "bos://my-bucket/out/run1", "code_UrlSource": "PFS",
            "code_path": "/code/train.py", "start_cmd": "python train.py --epochs 1",
            "repository_id": "repo-1", "distribute_strategy": "PytorchDDP"},
        "dataset_config": {"trainset_UrlSource": "PFS", "trainset_path": "/data/train",
                           "evalset_UrlSource": "BOS", "evalset_path": "/my-bucket/data/eval"},
        "resource_config": {"resource_type": "PUBLIC", "node_count": 2,
                            "resource_name": "GPU_V100", "max_duration": 24,
                            "gpu_type": "V100", "gpu_num": 2, "cpu_num": 1, "memory": 1,
                            "rdma": True},
    }
    assert validator.parse(request, "p1") == JobSpec(
        project="p1", name="resnet-训练", description="first run", env_type="DEFAULT",
        output_source="BOS", output_path="bos://my-bucket/out/run1", code_source="PFS",
        code_path="/code/train.py", start_cmd="python train.py --epochs 1",
        repository_id="repo-1", distribute_strategy="PytorchDDP",
        trainset_source="PFS", trainset_path="/data/train", evalset_source="BOS",
        evalset_path="/my-bucket/data/eval", resource_type="PUBLIC", node_count=2,
        resource_name="GPU_V100", max_duration=24, gpu_type="V100", gpu_num=2, cpu_num=1,
        memory=1, rdma=True)


def test_a_ccr_body_on_a_user_pool_gives_its_job_spec(validator: CreateValidator) -> None:
    request = {
        "name": "ccr-job", "description": "in its own image",
        "train_config": {
            "env_type": "CCR", "output_UrlSource": "PFS", "output_path": "/out/ccr",
            "code_UrlSource": "BOS", "start_cmd": "python -m trainer",
            "image": "/ns-project/paddle", "tag": "2.5.1", "distribute_strategy": "PaddleFleet"},
        "dataset_config": {},
        "resource_config": {"resource_type": "USER", "node_count": 2,
                            "resource_name": "team-a100", "max_duration": 168, "gpu_num": 8},
    }
    assert validator.parse(request, "p2") == JobSpec(
        project="p2", name="ccr-job", description="in its own image", env_type="CCR",
        output_source="PFS", output_path="/out/ccr", code_source="BOS", code_path=None,
        start_cmd="python -m trainer", image="/ns-project/paddle", tag="2.5.1",
        distribute_strategy="PaddleFleet", resource_type="USER", node_count=2,
        resource_name="team-a100", max_duration=168, gpu_num=8)
