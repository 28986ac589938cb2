"""`make demo` is run by hand, not by the suite: at least what it imports must exist."""
import importlib.util
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_the_demo_script_imports() -> None:
    spec = importlib.util.spec_from_file_location("bmlocal_demo", DEMO)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its main() runs only as a script
    assert callable(module.main)
