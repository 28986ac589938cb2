"""Servers shared by the fidelity tests: one with credentials, one loopback-open."""
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.server import Server

AK, SK = "ak-fidelity", "sk-fidelity-never-logged"
OTHER_AK, OTHER_SK = "ak-other", "sk-other-never-logged"
CREDENTIALS = f"""
[[auth.credentials]]
ak = "{AK}"
sk = "{SK}"
projects = ["p1"]

[[auth.credentials]]
ak = "{OTHER_AK}"
sk = "{OTHER_SK}"
projects = ["p2"]
"""


@pytest.fixture(scope="package")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("keyed")), config=CREDENTIALS).start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("open"))).start()
    yield server
    server.stop()
