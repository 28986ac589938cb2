"""A real Slurm cluster (scripts/slurm.sh start: two nodes on this machine). Where none
answers the tests skip, and fail instead when BMLOCAL_REQUIRE_SLURM=1."""
import hashlib
import os
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support.require import missing
from tests.support.server import Server

SLURM_CONF = "/run/bmlocal-ci/slurm/slurm.conf"
POOL = "slurm2"


def cluster_problem() -> str | None:
    if not Path(SLURM_CONF).exists():
        return f"no Slurm cluster ({SLURM_CONF} missing): run scripts/slurm.sh start"
    try:
        done = subprocess.run(["sinfo", "--noheader", "-N", "--format=%N %t"],
                              env={**os.environ, "SLURM_CONF": SLURM_CONF},
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Slurm does not answer: {exc}"
    up = [line for line in done.stdout.splitlines()
          if line.split()[-1].rstrip("*") in ("idle", "alloc", "mix", "comp")]
    if done.returncode != 0 or len(up) < 2:
        return f"the Slurm cluster does not have two nodes up: {done.stdout}{done.stderr}"
    return None


@pytest.fixture(scope="session")
def slurm() -> None:
    problem = cluster_problem()
    if problem is None:
        return
    missing("SLURM", problem)


def pool_config(name: str = POOL, nodes: int = 2, extra: str = "") -> str:
    return (f'[[pools]]\nname = "{name}"\nbackend = "slurm"\n'
            f'[pools.slurm]\npartition = "debug"\nnodes = {nodes}\ncpus_per_node = 1\n'
            f'memory_gb = 1\nslurm_conf = "{SLURM_CONF}"\n{extra}')


def squeue(*args: str) -> str:
    return subprocess.run(["squeue", "--noheader", *args],
                          env={**os.environ, "SLURM_CONF": SLURM_CONF},
                          capture_output=True, text=True, timeout=20).stdout


def live_jobs(prefix: str) -> list[str]:
    """Slurm jobs whose name starts with `prefix` that are not over."""
    out = squeue("--states=PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED",
                 "--format=%i %j")
    return [line for line in out.splitlines() if line.split()[1].startswith(prefix)]


@pytest.fixture
def slurm_server(slurm: None, make_server: Callable[..., Server]
                 ) -> Iterator[Callable[..., Server]]:
    """A server with the pool `slurm2` on the cluster; afterwards nothing of its jobs is
    left in squeue (and anything left is cancelled, so that the next test starts clean)."""
    made: list[Server] = []

    def make(config: str = "", **options) -> Server:
        server = make_server(config=pool_config() + config, **options)
        made.append(server)
        return server

    yield make
    left = [job for server in made for job in live_jobs(prefix_of(server))]
    for job in left:
        subprocess.run(["scancel", job.split()[0]], env={**os.environ,
                                                          "SLURM_CONF": SLURM_CONF})
    assert left == [], f"left in squeue: {left}"


def prefix_of(server: Server) -> str:
    return "bml-" + hashlib.sha1(str(server.data_dir).encode()).hexdigest()[:6] + "-"


@pytest.fixture
def docker_host() -> Iterator[str]:
    """The engine CCR nodes run on (the one scripts/dockerd.sh starts unless DOCKER_HOST
    names another), with the training image; no container of a Slurm node left after."""
    import docker
    host = os.environ.get("DOCKER_HOST", "unix:///run/bmlocal-ci/docker.sock")
    try:
        client = docker.DockerClient(base_url=host, timeout=10)
        client.ping()
        problem = None if client.images.list(name="bmlocal/train:cpu") else \
            "bmlocal/train:cpu is missing: run `make images`"
    except docker.errors.DockerException as exc:
        client, problem = None, f"no Docker engine answers at {host}: {exc}"
    if problem:
        missing("DOCKER", problem)
    yield host
    left = [c.name for c in client.containers.list(all=True) if "-slurm" in c.name]
    assert left == [], f"containers of Slurm nodes left: {left}"
