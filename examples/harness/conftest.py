"""The suite's server: bmlocal as the cloud's double, with this suite's credentials, quota
and simulate rules. `pytest --bml-executor process` runs the same suite with real jobs."""
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from bmlocal.testing import BmlServer

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def bml_server(pytestconfig: pytest.Config) -> Iterator[BmlServer]:
    executor = pytestconfig.getoption("bml_executor") or "simulate"
    with BmlServer(executor=executor, config=HERE / "bmlocal.toml", ak="suite",
                   sk="suite-secret") as server:
        code = server.pfs / "sweep" / "code"
        code.mkdir(parents=True)
        shutil.copy(HERE / "code" / "train.py", code)
        yield server
