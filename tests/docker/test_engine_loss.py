"""A Docker engine that goes away under running CCR jobs: a second, private engine of the
test's own (tests/docker/own_engine.py) is stopped and started again; the shared engine is
never touched. And an image pull that hangs holds only the jobs that need that image."""
import socket
import threading
import time
from typing import Iterator

import pytest

from bmlocal.runtime.executors.docker import INSTANCE_LABEL
from tests.docker.own_engine import EngineUnavailable, OwnEngine
from tests.docker.test_docker_jobs import ccr, wait_for_log
from tests.support.require import missing
from tests.support.server import Server

pytestmark = pytest.mark.usefixtures("docker_client")
LOOP = "trap 'echo got TERM; exit 7' TERM; echo started; while true; do sleep 0.1; done"


@pytest.fixture(scope="module")
def own_engine(docker_client) -> Iterator[OwnEngine]:
    engine = OwnEngine()
    try:
        engine.start()
        engine.ensure_image(docker_client)
    except EngineUnavailable as exc:
        engine.stop()
        missing("DOCKER", str(exc))
    yield engine
    engine.stop()


def serve_on(make_server, engine: OwnEngine, **options) -> Server:
    return make_server(env={"DOCKER_HOST": engine.host}, **options)


def running(server: Server, engine: OwnEngine, job_id: int) -> None:
    server.wait(job_id, "RUNNING", timeout=60)
    wait_for_log(server, job_id, "started")


def wait_reason(server: Server, job_id: int, text: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        info = server.detail(job_id)
        if text in info.get("status_reason", ""):
            return info
        assert time.monotonic() < deadline, info
        time.sleep(0.1)


def mine(server: Server) -> str:
    return f"{INSTANCE_LABEL}={server.data_dir}"


def wait_no_containers(server: Server, engine: OwnEngine, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while left := engine.client().containers.list(all=True, filters={"label": mine(server)}):
        assert time.monotonic() < deadline, [c.name for c in left]
        time.sleep(0.2)


def test_stop_ends_a_job_whose_engine_is_away_and_its_container_goes_when_it_is_back(
        make_server, own_engine: OwnEngine) -> None:
    own_engine.stop()
    own_engine.start(live_restore=True)  # its containers outlive the daemon
    server = serve_on(make_server, own_engine)
    try:
        job_id = server.ok("create", ccr("away", LOOP))
        running(server, own_engine, job_id)
        own_engine.stop()
        info = wait_reason(server, job_id, "the Docker engine does not answer")
        assert info["train_status"] == "RUNNING"
        own_engine.start(live_restore=True)  # back: the job runs on as if nothing happened
        deadline = time.monotonic() + 30
        while "status_reason" in (info := server.detail(job_id)):
            assert time.monotonic() < deadline, info
            time.sleep(0.1)
        assert info["train_status"] == "RUNNING"
        own_engine.stop()
        wait_reason(server, job_id, "the Docker engine does not answer")
        server.ok("stop", {"id": job_id, "prjId": "p1"})
        info = server.wait(job_id, timeout=30)
        assert info["train_status"] == "STOPPED"
        assert info["status_reason"].startswith("stopped by user; its containers could not "
                                                "be reached"), info
        own_engine.start(live_restore=True)
        wait_no_containers(server, own_engine)  # it ran on until the engine was back
    finally:
        own_engine.stop()
        own_engine.start()
        own_engine.remove_containers(mine(server))


def test_max_duration_ends_a_job_whose_engine_is_away(make_server,
                                                     own_engine: OwnEngine) -> None:
    own_engine.stop()
    own_engine.start(live_restore=True)
    server = serve_on(make_server, own_engine, hour_seconds=6)
    try:
        job_id = server.ok("create", ccr("deadline", LOOP))
        running(server, own_engine, job_id)
        own_engine.stop()
        info = server.wait(job_id, timeout=40)
        assert info["train_status"] == "FAILED"
        assert info["status_reason"].startswith("max duration exceeded (1 h); its containers "
                                                "could not be reached"), info
    finally:
        own_engine.start()  # without live-restore: it stops what ran on, and we remove it
    wait_no_containers(server, own_engine)


def test_an_engine_restarted_without_live_restore_fails_the_job_with_the_exit_code(
        make_server, own_engine: OwnEngine) -> None:
    server = serve_on(make_server, own_engine)
    job_id = server.ok("create", ccr("restarted", LOOP))
    running(server, own_engine, job_id)
    own_engine.stop()  # stops its containers: SIGTERM, the job's trap exits 7
    own_engine.start()
    info = server.wait(job_id, timeout=40)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"].startswith("node 0 exited with code 7"), (
        info["status_reason"], server.node_log(job_id))
    assert "got TERM" in server.node_log(job_id)
    wait_no_containers(server, own_engine)


def test_a_server_started_while_the_engine_is_away_says_so_and_adopts_it_later(
        make_server, own_engine: OwnEngine) -> None:
    own_engine.stop()
    own_engine.start(live_restore=True)
    server = serve_on(make_server, own_engine)
    try:
        job_id = server.ok("create", ccr("adopted", LOOP))
        running(server, own_engine, job_id)
        server.stop()
        own_engine.stop()
        server.start()  # --executor auto: no engine, CCR jobs refused, its nodes unknown
        info = wait_reason(server, job_id, "no docker executor answered when the server "
                                           "started")
        assert info["train_status"] == "RUNNING"
        own_engine.start(live_restore=True)
        server.restart()
        assert "status_reason" not in server.detail(job_id)
        server.ok("stop", {"id": job_id, "prjId": "p1"})
        assert server.wait(job_id, timeout=30)["status_reason"] == "stopped by user"
        assert "got TERM" in server.node_log(job_id)
    finally:
        own_engine.stop()
        own_engine.start()
    wait_no_containers(server, own_engine)


class SilentRegistry:
    """A TCP server that accepts connections and never answers: a pull from it hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def test_a_pull_that_hangs_times_out_and_holds_no_other_job(make_server) -> None:
    registry = SilentRegistry()
    try:
        server = make_server(config=f'[docker]\npull_timeout_seconds = 15\n'
                                    f'registries = {{ stuck = "{registry.address}" }}\n')
        stuck = server.ok("create", ccr("stuck", "true", image="/team/img", tag="1",
                                        **{"train_config.repository_id": "stuck"}))
        wait_for_log(server, stuck, "waiting for image")
        other = server.ok("create", ccr("other", "echo other"))
        info = server.wait(other, timeout=30)
        assert info["train_status"] == "SUCCESSED"
        assert server.detail(stuck)["train_status"] == "PENDING"  # still waiting for its pull
        info = server.wait(stuck, timeout=30)
        assert info["train_status"] == "FAILED"
        assert info["status_reason"] == (f"could not start: image {registry.address}/team/img:1"
                                         " did not arrive within 15 s (its pull goes on)"), info
    finally:
        registry.close()
