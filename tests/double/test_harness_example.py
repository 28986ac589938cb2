"""examples/harness, the sweep's suite written against the plugin, runs in `make test` as it
is (testpaths); here it runs once more with real jobs (--bml-executor process), in a pytest
of its own, as a user's suite would: the plugin found through its entry point."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_suite_passes_with_real_jobs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--bml-executor", "process", str(ROOT / "examples" / "harness")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "6 passed" in done.stdout
