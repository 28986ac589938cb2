"""The pytest plugin (registered through the `pytest11` entry point): fixtures

- `bml_server` (one per session): a BmlServer; `--bml-executor` (or the ini option
  `bml_executor`) chooses the executor, the ini option `bml_config` a TOML file. Override
  this fixture in a conftest.py for credentials or anything else.
- `bml` (one per test, reset before and after it): `.client`, `.calls()`,
  `.fail_next(operation, error_code, times=1)`, `.advance(id, status, reason=None)`,
  `.hold()`, `.reset()` and the rest of bmlocal.testing.Admin.
"""
from pathlib import Path
from typing import Any, Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bmlocal", "bmlocal, the cloud training-job API's test double")
    group.addoption("--bml-executor", default=None,
                    help="executor of the bml_server fixture: simulate (default) or process")
    parser.addini("bml_executor", "executor of the bml_server fixture", default="simulate")
    parser.addini("bml_config", "TOML configuration file of the bml_server fixture",
                  default="")


class Bml:
    """One test's view of the session's server: its client and the admin controls."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = server.url
        self.client = server.client
        self.admin = server.admin

    def __getattr__(self, name: str) -> Any:  # calls, fail_next, advance, hold, reset, ...
        return getattr(self.admin, name)


@pytest.fixture(scope="session")
def bml_server(pytestconfig: pytest.Config) -> Iterator[Any]:
    from bmlocal.testing import BmlServer

    executor = pytestconfig.getoption("bml_executor") or pytestconfig.getini("bml_executor")
    config = pytestconfig.getini("bml_config")
    path = Path(pytestconfig.rootpath, config) if config else None
    with BmlServer(executor=executor, config=path) as server:
        yield server


@pytest.fixture
def bml(bml_server: Any) -> Iterator[Bml]:
    controls = Bml(bml_server)
    controls.reset()
    yield controls
    controls.reset()
