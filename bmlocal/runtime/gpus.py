"""The GPUs of this machine: declared in the config, or found through NVML or nvidia-smi."""
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Inventory:
    devices: tuple[int, ...]
    gpu_type: str


def inventory(table: Mapping[str, Any]) -> Inventory:
    declared = table.get("gpus", {})
    if "devices" in declared:
        return Inventory(tuple(int(d) for d in declared["devices"]),
                         str(declared.get("type", "")))
    return _nvml() or _nvidia_smi() or Inventory((), "")


def _nvml() -> Inventory | None:
    try:
        import pynvml  # nvidia-ml-py, where installed
        pynvml.nvmlInit()
    except Exception:  # no library, no driver: not an NVIDIA machine
        return None
    try:
        count = pynvml.nvmlDeviceGetCount()
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0)) if count else ""
        return Inventory(tuple(range(count)), name if isinstance(name, str) else name.decode())
    finally:
        pynvml.nvmlShutdown()


def _nvidia_smi() -> Inventory | None:
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    rows = [line.split(",", 1) for line in out.splitlines() if line.strip()]
    return Inventory(tuple(int(r[0]) for r in rows), rows[0][1].strip() if rows else "")
