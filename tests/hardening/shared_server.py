"""One real server for a whole test module (import `shared` into it): for cases that each
make a job of their own and need no fresh server, so that the suite stays fast."""
from collections.abc import Iterator

import pytest

from tests.support.server import Server


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("shared")).start()
    yield server
    server.stop()
