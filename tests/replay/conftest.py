"""The replay tests reuse the storage tests' moto server, and need a Docker engine with
the train image for CCR jobs (each skips where its part is missing, and fails under
BMLOCAL_REQUIRE_*=1)."""

import pytest

from bmlocal.runtime.executors.docker import engine
from tests.storage.conftest import moto_launcher  # noqa: F401 - a fixture
from tests.support.require import missing as require

TRAIN_IMAGE = "bmlocal/train:cpu"


@pytest.fixture(scope="session")
def docker_engine():
    """The engine at DOCKER_HOST, with the train image (no check of what other suites'
    containers are doing: they share the engine)."""
    client = engine()
    missing = "no Docker engine answers (scripts/dockerd.sh start)" if client is None else \
        f"image {TRAIN_IMAGE} is missing: run `make images`" \
        if not client.images.list(name=TRAIN_IMAGE) else None
    if missing:
        require("DOCKER", missing)
    return client
