"""Where a node's memory cannot be limited, the job's event log says why (not the node's
own output), and the node still runs."""
import json
import sys
from pathlib import Path

import pytest

from bmlocal.runtime.executors import supervisor
from bmlocal.runtime.executors.cgroup import Unavailable


def node(tmp_path: Path, memory_gb: int | None) -> supervisor.Node:
    (tmp_path / "node.json").write_text(json.dumps({
        "rank": 1, "argv": [sys.executable, "-c", "print('ran')"], "env": {}, "cwd": str(tmp_path),
        "log_path": str(tmp_path / "node-1.log"), "events_path": str(tmp_path / "job.log"),
        "grace": 1, "cpu_set": None, "memory_gb": memory_gb}))
    return supervisor.Node(tmp_path)


def no_cgroups(limit_bytes: int) -> None:
    raise Unavailable("no cgroup memory controller is mounted")


def test_an_unlimited_node_says_why_in_the_event_log(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor.MemoryCgroup, "create", no_cgroups)
    running = node(tmp_path, memory_gb=2)
    assert running.start() is None
    assert running.wait() == 0
    assert (tmp_path / "node-1.log").read_text() == "ran\n"
    assert "bmlocal: node 1: memory is not limited to 2 GB: no cgroup memory controller is " \
           "mounted\n" in (tmp_path / "job.log").read_text()


def test_a_node_without_a_memory_figure_tries_no_cgroup(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervisor.MemoryCgroup, "create", no_cgroups)
    running = node(tmp_path, memory_gb=None)
    assert running.start() is None
    assert running.wait() == 0
    assert not (tmp_path / "job.log").exists()
