"""A test that needs a missing component skips with a message saying how to get it, and
fails instead where CI asks for the component (BMLOCAL_REQUIRE_<THING>=1)."""
import os
from typing import NoReturn

import pytest


def missing(thing: str, why: str) -> NoReturn:
    if os.environ.get(f"BMLOCAL_REQUIRE_{thing}") == "1":
        pytest.fail(f"BMLOCAL_REQUIRE_{thing}=1 but {why}")
    pytest.skip(why)
