"""Distributed jobs need torch, paddle and horovod in bmlocal's environment (`make venv`).
Where one is missing the tests skip, and fail instead when BMLOCAL_REQUIRE_FRAMEWORKS=1."""
import importlib
import importlib.util

from tests.support.require import missing

FRAMEWORKS = {"PytorchDDP": "torch", "PaddleFleet": "paddle", "Horovod": "horovod.torch"}


def require(module: str) -> None:
    top = module.split(".")[0]
    if importlib.util.find_spec(top) is not None:
        try:
            importlib.import_module(module)
            return
        except ImportError:
            pass
    message = f"{module} is not installed here: run `make venv`"
    missing("FRAMEWORKS", message)


