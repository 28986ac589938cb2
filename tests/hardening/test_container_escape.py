"""The same attacks from inside a CCR container, where the job is root: links to host files
and directories, a device node and a replaced event log, planted through the bind mounts.
The server, on the host, must follow none of them."""
import uuid
from pathlib import Path

import pytest

from tests.docker.conftest import docker_client  # noqa: F401 (a fixture: skips without an engine)
from tests.docker.test_docker_jobs import ccr
from tests.hardening.hostile_report import record

pytestmark = pytest.mark.usefixtures("docker_client")


def test_links_and_devices_planted_by_a_root_container_are_not_followed(
        make_server, tmp_path: Path) -> None:
    token = f"host-secret-{uuid.uuid4().hex}"
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(token + "\n")
    outside = tmp_path / "host" / "written-here"
    outside.mkdir()
    server = make_server()
    plant = (f"ln -s {secret} /bml/logs/evil.log && mknod /bml/logs/zero.log c 1 5 && "
             f"ln -s {outside} /bml/output/logs && ln -sf {secret} /bml/logs/job.log && "
             "echo planted as $(id -u)")
    job_id = server.ok("create", ccr("root-plants", plant))
    info = server.wait(job_id, timeout=120)
    assert info["train_status"] == "SUCCESSED", server.node_log(job_id)
    assert "planted as 0" in server.node_log(job_id)
    assert "evil.log" not in info["logs"] and "zero.log" not in info["logs"]
    for name in ("evil.log", "zero.log"):
        assert server.ok("logs", {"id": job_id, "prjId": "p1", "file": name})["content"] == ""
    assert secret.read_text() == token + "\n" and list(outside.iterdir()) == []
    assert "symbolic link" in info["output_note"]
    job_log = server.data_dir / "jobs" / str(job_id) / "logs" / "job.log"
    assert not job_log.is_symlink() and "SUCCESSED" in job_log.read_text()
    record("CCR container (root)", "links to a host file and directory, a /dev/zero node, "
           "job.log replaced by a link", "none followed; host file and directory unchanged")
