"""PFS's root is no job's path, over-long names are refused at create with the field's code,
and no message shows a host path (for reasons of failed staging: test_archives.py)."""
from pathlib import Path

import pytest

from bmlocal.runtime.storage.paths import PATH_MAX, PathError
from bmlocal.runtime.storage.pfs import PfsStorage
from tests.hardening.hostile_report import record
from tests.hardening.shared_server import shared  # noqa: F401 (a fixture)
from tests.support.server import Server, job_body

FIELDS = [("train_config.code_path", 406019), ("train_config.output_path", 406021),
          ("dataset_config.trainset_path", 406022), ("dataset_config.evalset_path", 406023)]


def body_with(field: str, path: str) -> dict:
    return job_body("paths", "true", **{field: path, "dataset_config.trainset_UrlSource": "PFS",
                                        "dataset_config.evalset_UrlSource": "PFS"})


@pytest.mark.parametrize("field,code", FIELDS)
def test_the_pfs_root_itself_is_refused(shared: Server, field: str, code: int) -> None:
    (shared.pfs / "another-project").mkdir(exist_ok=True)
    for root in ("/", "//", "/./", "/."):
        assert shared.error("create", body_with(field, root))[0] == code, root
        record("create", f"PFS root {root!r} as {field}", f"refused {code}")


@pytest.mark.parametrize("field,code", FIELDS)
def test_a_component_over_255_bytes_is_refused_at_create(shared: Server, field: str,
                                                         code: int) -> None:
    for component in ("a" * 256, "é" * 128):  # 256 bytes either way
        answer = shared.error("create", body_with(field, f"/data/{component}"))
        assert answer[0] == code and str(shared.root) not in answer[1]
        record("create", f"{len(component)}-character component of 256 bytes as {field}",
               f"refused {code}")


def test_a_component_of_255_bytes_is_accepted(shared: Server) -> None:
    job_id = shared.ok("create", body_with("train_config.output_path", "/out/" + "b" * 255))
    assert shared.wait(job_id)["train_status"] == "SUCCESSED"
    assert (shared.pfs / "out" / ("b" * 255) / "logs" / "node-0.log").exists()


def test_a_path_longer_than_path_max_on_the_host_is_refused(tmp_path: Path) -> None:
    root = tmp_path / ("r" * 200)
    root.mkdir()
    pfs = PfsStorage(root)
    within = "/" + "/".join(["c" * 250] * 14)  # about 3,500 bytes, plus the root
    pfs.validate(within)
    with pytest.raises(PathError, match="too long") as refused:
        pfs.validate(within + "/" + "d" * 250 + "/" + "e" * 250)
    assert len(within) + 502 + len(str(root)) > PATH_MAX
    assert str(tmp_path) not in str(refused.value)
