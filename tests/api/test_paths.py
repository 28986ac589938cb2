"""Code and data staging: every accepted form, and no path or archive escapes its root."""
import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.support.server import Server, job_body

def tar_bytes(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("name,payload", [
    ("code.zip", zip_bytes({"main.py": b"zip", "pkg/x.py": b""})),
    ("code.tar", tar_bytes({"main.py": b"tar", "pkg/x.py": b""}, "w")),
    ("code.tar.gz", tar_bytes({"main.py": b"tgz", "pkg/x.py": b""})),
    ("code.tgz", tar_bytes({"main.py": b"tgz2", "pkg/x.py": b""})),
])
def test_code_archives_are_unpacked_into_the_working_directory(
        server: Server, name: str, payload: bytes) -> None:
    (server.pfs / "src").mkdir()
    (server.pfs / "src" / name).write_bytes(payload)
    server.write_code("data/set", {"a.txt": "1", "b.txt": "2"})
    job_id = server.create("archive", "cat main.py && test -e pkg/x.py", **{
        "train_config.code_path": f"/src/{name}",
        "dataset_config.trainset_UrlSource": "PFS", "dataset_config.trainset_path": "/data/set"})
    assert server.wait(job_id)["train_status"] == "SUCCESSED", server.node_log(job_id)


def test_a_single_file_and_a_bos_directory_are_staged(server: Server) -> None:
    server.write_code("one", {"main.py": "print('single file')"})
    job_id = server.create("single", "python main.py",
                           **{"train_config.code_path": "/one/main.py"})
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    assert "single file" in server.node_log(job_id)
    (server.bos / "my-bucket" / "code").mkdir(parents=True)
    (server.bos / "my-bucket" / "code" / "main.py").write_text("print('from bos')")
    job_id = server.create("bos", "python main.py", **{
        "train_config.code_UrlSource": "BOS", "train_config.code_path": "bos://my-bucket/code/",
        "train_config.output_UrlSource": "BOS", "train_config.output_path": "/my-bucket/out"})
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    assert (server.bos / "my-bucket" / "out" / "logs" / "node-0.log").read_text().strip() \
        == "from bos"


def test_dataset_modes_are_read_only(server: Server) -> None:
    server.write_code("data/modes", {"a.txt": "1"})
    job_id = server.create("modes", "stat -c %a $BML_TRAINSET_DIR $BML_TRAINSET_DIR/a.txt", **{
        "dataset_config.trainset_UrlSource": "PFS", "dataset_config.trainset_path": "/data/modes"})
    server.wait(job_id)
    assert server.node_log(job_id).split() == ["555", "444"]


@pytest.mark.parametrize("member", ["../escape.py", "/abs/escape.py", "a/../../escape.py"])
def test_a_hostile_archive_fails_the_job_and_writes_nothing_outside(
        server: Server, member: str) -> None:
    (server.pfs / "evil").mkdir()
    (server.pfs / "evil" / "code.tar.gz").write_bytes(tar_bytes({member: b"x"}))
    (server.pfs / "evil" / "code.zip").write_bytes(zip_bytes({member: b"x"}))
    for name in ("code.tar.gz", "code.zip"):
        job_id = server.create(f"evil-{name}", "true",
                               **{"train_config.code_path": f"/evil/{name}"})
        info = server.wait(job_id)
        assert info["train_status"] == "FAILED"
        assert info["status_reason"].startswith("staging failed")
    assert not list(server.root.rglob("escape.py"))


def test_an_archive_with_a_link_out_is_refused(server: Server) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(link)
        inner = tarfile.TarInfo("link/escape.py")
        tar.addfile(inner, io.BytesIO(b""))
    (server.pfs / "linky.tgz").write_bytes(buf.getvalue())
    job_id = server.create("linky", "true", **{"train_config.code_path": "/linky.tgz"})
    assert server.wait(job_id)["train_status"] == "FAILED"
    assert not Path("/etc/escape.py").exists()


def test_a_corrupt_archive_fails_at_staging_not_at_create(server: Server) -> None:
    (server.pfs / "broken.zip").write_bytes(b"not a zip at all")
    job_id = server.create("broken", "true", **{"train_config.code_path": "/broken.zip"})
    info = server.wait(job_id)
    assert info["train_status"] == "FAILED"
    assert "cannot unpack" in info["status_reason"]


@pytest.mark.parametrize("field,code", [("train_config.code_path", 406019),
                                        ("train_config.output_path", 406021),
                                        ("dataset_config.trainset_path", 406022)])
def test_a_symbolic_link_out_of_the_pfs_root_is_refused(
        server: Server, field: str, code: int) -> None:
    os.symlink("/etc", server.pfs / "outside")
    body_changes = {field: "/outside/ssl", "dataset_config.trainset_UrlSource": "PFS"}
    assert server.error("create", job_body("link", "true", **body_changes))[0] == code
