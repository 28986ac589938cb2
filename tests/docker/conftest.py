"""Docker tests run against a real engine (DOCKER_HOST, e.g. scripts/dockerd.sh start).
They skip where none answers, and fail instead when BMLOCAL_REQUIRE_DOCKER=1 (CI)."""

import pytest

from bmlocal.runtime.executors.docker import engine

from tests.support.require import missing

TRAIN_IMAGE = "bmlocal/train:cpu"
BASE_IMAGE = "bmlocal/base:bookworm"


@pytest.fixture(scope="session")
def docker_client():
    client = engine()
    if client is None:
        message = ("no Docker engine answers: run `scripts/dockerd.sh start` and "
                   "`eval \"$(scripts/dockerd.sh env)\"`, then `make images`")
        missing("DOCKER", message)
    for image in (TRAIN_IMAGE, BASE_IMAGE):
        if not client.images.list(name=image):
            message = f"image {image} is missing: run `make images`"
            missing("DOCKER", message)
    yield client
    left = client.containers.list(all=True, filters={"label": "bmlocal.job"})
    assert not left, f"bmlocal containers left behind: {[c.name for c in left]}"
