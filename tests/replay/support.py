"""What the replay tests share: the cloud jobs kept as test data, the code and datasets
they read, and `bmlocal` commands run as a user runs them."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.require import missing

DATA = Path(__file__).parent / "data"
STRATEGY_FILES = sorted(p.name for p in DATA.glob("detail-*.json"))
CCR_FILES = [name for name in STRATEGY_FILES if name.startswith("detail-ccr-")]

TRAIN_PY = """\
import json, os, pathlib
def files(d):
    return sorted(p for p in pathlib.Path(d).rglob("*") if p.is_file()) if d else []
rank = int(os.environ.get("RANK") or os.environ.get("HOROVOD_RANK")
           or os.environ.get("PADDLE_TRAINER_ID") or 0)
train = files(os.environ.get("BML_TRAINSET_DIR"))
total = sum(len(p.read_bytes()) for p in train)
print(f"node {os.environ['BML_NODE_RANK']} rank {rank}: {len(train)} train files, {total} bytes")
if rank == 0 and os.environ["BML_NODE_RANK"] == "0":
    metrics = {"loss": round(1.0 / (1 + total), 6), "train_bytes": total,
               "eval": {"files": len(files(os.environ.get("BML_EVALSET_DIR")))}}
    (pathlib.Path(os.environ["BML_OUTPUT_DIR"]) / "metrics.json").write_text(json.dumps(metrics))
"""
INPUT_FILES = {"code/train.py": TRAIN_PY, "data/train/part-0.txt": "1 2 3\n",
               "data/train/part-1.txt": "4 5 6\n", "data/eval/part-0.txt": "7 8\n"}


def cloud_job(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def write_inputs(root: Path, bucket: str = "bml-replay") -> None:
    """The code and datasets the test jobs read, under `root`/`bucket` (a PFS root or a
    local bucket directory)."""
    for rel, text in INPUT_FILES.items():
        target = root / bucket / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def bmlocal(*args: str, url: str, env: dict[str, str] | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess:
    """`bmlocal ARGS --url URL`, as a user runs it."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BMLOCAL_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "bmlocal.cli", *args, "--url", url],
                          capture_output=True, text=True, timeout=120, env=environ, cwd=cwd)


def replay_json(*args: str, url: str, **kwargs: Any) -> dict[str, Any]:
    done = bmlocal("replay", *args, "--output", "json", url=url, **kwargs)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def require_frameworks() -> None:
    """The strategies' launchers need torch, paddle and horovod in bmlocal's environment:
    skip without them, fail under BMLOCAL_REQUIRE_FRAMEWORKS=1."""
    absent = [m for m in ("torch", "paddle", "horovod") if importlib.util.find_spec(m) is None]
    if absent:
        message = f"{', '.join(absent)} not installed here: run `make venv`"
        missing("FRAMEWORKS", message)
