import os
import signal
from pathlib import Path
from typing import Callable, Iterator

import pytest

from bmlocal.runtime.executors.docker import engine
from tests.support.server import Server


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def make(**options) -> Server:
        server = Server(tmp_path / f"s{len(started)}", **options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
        for pid in leftover_pids(server.data_dir):
            os.kill(pid, signal.SIGKILL)
        for container in containers_of(server):
            container.remove(force=True)


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


def containers_of(server: Server) -> list:
    """The containers a server's Docker executor made (none where no engine answers)."""
    client = engine()
    if client is None:
        return []
    label = f"bmlocal.instance={server.data_dir}"
    return client.containers.list(all=True, filters={"label": label})


def leftover_pids(data_dir: Path) -> list[int]:
    """Job processes still running: a working directory or argument inside its job dirs."""
    jobs, found = str(data_dir / "jobs"), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if jobs in cmdline or cwd.startswith(jobs):
            found.append(int(entry.name))
    return found
