"""moto's S3 server on 127.0.0.1 for the storage tests. Without moto[server] the tests skip,
unless BMLOCAL_REQUIRE_S3=1 (CI), where they fail."""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.client import BaseClient

from tests.storage.moto_server import client_for, start_or_skip

Launcher = Callable[..., tuple[str, Callable[[], None]]]


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One moto server shared by the session; tests keep apart by using their own bucket."""
    endpoint, stop = start_or_skip(tmp_path_factory.mktemp("moto"))
    yield endpoint
    stop()


@pytest.fixture
def moto_launcher(tmp_path: Path) -> Iterator[Launcher]:
    """For tests that stop and restart their own server: launcher(port=None)."""
    stops: list[Callable[[], None]] = []

    def start(port: int | None = None) -> tuple[str, Callable[[], None]]:
        endpoint, stop = start_or_skip(tmp_path / "moto", port)
        stops.append(stop)
        return endpoint, stop

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def s3_client(moto_endpoint: str) -> BaseClient:
    return client_for(moto_endpoint)


@pytest.fixture
def bucket(s3_client: BaseClient) -> str:
    name = f"t-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name
