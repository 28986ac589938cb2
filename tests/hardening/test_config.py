"""The configuration file is validated at start: one clear line per mistake, unknown keys
refused, the server exits non-zero without a traceback."""
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from bmlocal.config_model import PLUGINS, validate
from tests.support.server import Server, free_port


def serve_with(tmp_path: Path, config: str) -> subprocess.CompletedProcess:
    path = tmp_path / "bmlocal.toml"
    path.write_text(config)
    return subprocess.run(
        [sys.executable, "-m", "bmlocal.cli", "serve", "--config", str(path), "--port",
         str(free_port()), "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=60)


def test_each_mistake_is_one_line_naming_its_place(tmp_path: Path) -> None:
    done = serve_with(tmp_path, """
[scheduler]
cpu_slots = "many"
[quotas]
max_gpus_per_project = "4"
[[pools]]
name = "lab"
backnd = "docker"
[bos]
secret_key = 12345
""")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = [line.strip() for line in done.stderr.splitlines()]
    assert "4 mistake(s) in config file" in lines[0]
    assert "scheduler.cpu_slots: input should be a valid integer, got 'many'" in lines
    assert "quotas.max_gpus_per_project: input should be a valid integer, got '4'" in lines
    assert "pools[0].backnd: unknown key" in lines
    assert "bos.secret_key: input should be a valid string" in lines  # the value not shown
    assert "12345" not in done.stderr
    assert not (tmp_path / "data" / "bmlocal.db").exists()  # refused before anything began


@pytest.mark.parametrize("config, line", [
    ("[schedulr]\ncpu_slots = 2\n", "schedulr: unknown key"),
    ("[[pools]]\nname = \"p\"\nbackend = \"gpu\"\n",
     "pools[0].backend: input should be 'process', 'docker', 'slurm' or 'simulate', got 'gpu'"),
    ("[[pools]]\nnodes = 2\n", "pools[0].name: missing (required)"),
    ("[scheduler]\ncpu_slots = 0\n",
     "scheduler.cpu_slots: input should be greater than or equal to 1, got 0"),
    ("[server]\nport = \"80\"\n", "server.port: input should be a valid integer, got '80'"),
    ("[[auth.credentials]]\nak = \"a\"\nprojects = [\"p\"]\n",
     "auth.credentials[0].sk: missing (required)"),
])
def test_a_mistake_is_refused(tmp_path: Path, config: str, line: str) -> None:
    done = serve_with(tmp_path, config)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert line in [text.strip() for text in done.stderr.splitlines()]


def test_a_complete_configuration_serves(tmp_path: Path) -> None:
    server = Server(tmp_path, config="""
[auth]
token_ttl_seconds = 600
[gpus]
devices = []
[[pools]]
name = "lab"
nodes = 2
cpus_per_node = 2
memory_gb = 4
backend = "process"
[scheduler]
cpu_slots = 4
max_passes = 2
workers = 8
[docker]
shm_size = "1g"
registries = { "repo-1" = "registry.example.com:5000" }
[quotas]
max_jobs_per_project = 10
max_running_jobs_per_project = 2
[delivery]
retry_seconds = 5
give_up_seconds = 600
""").start()
    try:
        job = server.create("ok", **{"resource_config.resource_type": "USER",
                                     "resource_config.resource_name": "lab"})
        assert server.wait(job, timeout=60)["train_status"] == "SUCCESSED"
    finally:
        server.stop()


class ExampleSection(BaseModel):
    """What a plug-in module exports for its section."""
    model_config = ConfigDict(extra="forbid", strict=True)
    partition: str


def test_a_plug_in_section_is_validated_by_its_module_once_it_exports_a_model(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PLUGINS, "pools.slurm", (__name__, "ExampleSection"))
    table = {"pools": [{"name": "c", "backend": "slurm", "slurm": {"partition": "debug"}}]}
    _, sections, problems = validate(table)
    assert problems == [] and sections["pools.slurm.c"] == ExampleSection(partition="debug")
    table["pools"][0]["slurm"] = {"partition": 3, "nodes": 2}
    _, _, problems = validate(table)
    assert problems == ["pools[0].slurm.partition: input should be a valid string, got 3",
                        "pools[0].slurm.nodes: unknown key"]


def test_a_plug_in_section_is_taken_as_written_while_its_module_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PLUGINS, "replay", ("bmlocal.no_such_module", "ReplayConfig"))
    _, sections, problems = validate({"replay": {"pools": {"GPU_V100": "lab"}}})
    assert problems == [] and sections == {"replay": {"pools": {"GPU_V100": "lab"}}}
