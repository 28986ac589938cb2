"""scripts/gpu-check.sh on a machine without an NVIDIA GPU: it says so and runs nothing."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None,
                    reason="this machine has nvidia-smi: run scripts/gpu-check.sh itself")
def test_gpu_check_fails_clearly_without_a_gpu(tmp_path: Path) -> None:
    done = subprocess.run([str(ROOT / "scripts" / "gpu-check.sh")], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == ("gpu-check: error: no NVIDIA GPU here: nvidia-smi "
                                           "is not installed (no NVIDIA driver)")
    assert "nothing was run" in done.stderr and done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no server started, no directory made


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None,
                    reason="this machine has nvidia-smi: run scripts/gpu-check.sh itself")
def test_its_driver_refuses_to_run_where_bmlocal_finds_no_gpu(tmp_path: Path) -> None:
    """The Python half, run alone, checks again (through bmlocal's own GPU inventory)."""
    done = subprocess.run([sys.executable,
                           str(ROOT / "scripts" / "gpu_check.py"), "--gpu-venv", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "bmlocal finds no GPU through NVML or nvidia-smi" in done.stderr
