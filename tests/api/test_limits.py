"""A process node is held to its `cpu_num` (CPU affinity) and `memory` (a memory cgroup).
The memory tests need a writable cgroup memory controller (root); they skip without one,
and fail instead when BMLOCAL_REQUIRE_CGROUPS=1 (CI)."""
import os
from pathlib import Path

import pytest

from bmlocal.runtime.executors.cgroup import PREFIX, MemoryCgroup, Unavailable
from tests.support.require import missing
from tests.support.server import Server

SHOW_CORES = "python -c 'import os; print(\"cores\", len(os.sched_getaffinity(0)))'"


@pytest.fixture
def cgroups() -> Path:
    """The cgroup under which supervisors started from here make their nodes' cgroups."""
    try:
        probe = MemoryCgroup.create(2**30)
    except Unavailable as exc:
        missing("CGROUPS", f"{exc}; run as root with a cgroup memory controller to enable")
    probe.remove()
    return probe.path.parent


def test_a_node_runs_on_as_many_cores_as_its_cpu_num(server: Server) -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs a machine with 2 cores or more")
    job_id = server.create("one-core", SHOW_CORES, **{"resource_config.cpu_num": 1})
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    assert "cores 1\n" in server.node_log(job_id)


def test_a_node_over_its_memory_is_killed_and_the_reason_says_so(
        server: Server, cgroups: Path) -> None:
    hog = "python -c 'b = bytearray(3 * 2**30); print(\"survived\")'"
    job_id = server.create("hog", hog, **{"resource_config.memory": 1})
    info = server.wait(job_id, timeout=60)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"] == (
        "node 0 exited with code 137: killed at its memory limit (1 GB)")
    assert "survived" not in server.node_log(job_id)
    assert list(cgroups.glob(f"{PREFIX}*")) == []


def test_a_node_within_its_memory_runs_and_its_cgroup_is_removed(
        server: Server, cgroups: Path) -> None:
    fits = "python -c 'b = bytearray(200 * 2**20); print(\"fits\")'"
    job_id = server.create("fits", fits, **{"resource_config.memory": 1})
    assert server.wait(job_id, timeout=60)["train_status"] == "SUCCESSED"
    log = server.node_log(job_id)
    assert "fits" in log and "not limited" not in log
    assert list(cgroups.glob(f"{PREFIX}*")) == []


def test_a_node_is_born_in_its_memory_cgroup_and_its_supervisor_is_not_kept_there(
        server: Server, cgroups: Path) -> None:
    show = ("grep memory /proc/self/cgroup; grep memory /proc/$PPID/cgroup; "
            "echo $PPID $(cat /proc/$PPID/comm)")
    job_id = server.create("born-there", show, **{"resource_config.memory": 1})
    assert server.wait(job_id, timeout=60)["train_status"] == "SUCCESSED"
    node, supervisor, parent = server.node_log(job_id).splitlines()[-3:]
    pid, name = parent.split()
    assert name == "bml-supervisor"
    supervisor_cgroup = supervisor.split(":", 2)[2]
    assert str(cgroups).endswith(supervisor_cgroup)
    assert node.split(":", 2)[2] == f"{supervisor_cgroup.rstrip('/')}/{PREFIX}{pid}"
