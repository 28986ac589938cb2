"""A node's end wakes the scheduler to watch that node's job, not every running job: with
many jobs running, each end cost a pass over all of them (their rows and their nodes)."""
import time
from typing import Iterator

import pytest

from bmlocal.runtime.store import Job
from bmlocal.testing import BmlServer
from tests.support.server import job_body

HOUR = 3600.0


@pytest.fixture
def server() -> Iterator[BmlServer]:
    with BmlServer(executor="process") as server:
        yield server


def test_a_node_end_watches_its_own_job_at_once_and_no_other(server: BmlServer) -> None:
    scheduler = server._runtime.scheduler  # noqa: SLF001 - the loop under test
    watched: list[int] = []
    watch_one = scheduler._watch_one  # noqa: SLF001

    def recording(job: Job) -> None:
        watched.append(job.id)
        watch_one(job)

    scheduler._watch_one = recording  # noqa: SLF001
    long = server.client.create(job_body("long", "sleep 60"))
    server.client.wait(long, "p1", timeout=30, until="RUNNING")
    scheduler.tick = HOUR  # from its next wait on, only wake-ups make the loop look
    time.sleep(0.2)
    watched.clear()
    started = time.monotonic()
    short = server.client.create(job_body("short", "true"))
    assert server.client.wait(short, "p1", timeout=30)["train_status"] == "SUCCESSED"
    assert time.monotonic() - started < 10  # seen at its end, not at an hour's tick
    assert short in watched
    assert long not in watched
    scheduler.tick = 0.05
    server.client.stop(long, "p1")
    assert server.client.wait(long, "p1", timeout=30)["train_status"] == "STOPPED"
