"""`make demo`: start bmlocal on its embedded defaults, run the example job, show outputs."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from bmlocal.cli import main as bmlocal_cli
from bmlocal.runtime.executors.docker import engine

HERE = Path(__file__).parent
DATA = Path(os.environ.get("BMLOCAL_DATA_DIR", ".bmlocal")).absolute()
PORT = int(os.environ.get("BMLOCAL_PORT", "8765"))
URL = f"http://127.0.0.1:{PORT}"


def start_server() -> subprocess.Popen:
    DATA.mkdir(parents=True, exist_ok=True)
    log = open(DATA / "server.log", "ab")
    print(f"demo: starting bmlocal on {URL}, data in {DATA}, server log {log.name}")
    server = subprocess.Popen([sys.executable, "-m", "bmlocal.cli", "serve",
                               "--port", str(PORT), "--data-dir", str(DATA)],
                              stdout=log, stderr=subprocess.STDOUT)
    for _ in range(200):
        if server.poll() is not None:
            sys.exit(f"demo: the server exited with {server.returncode}")
        try:
            requests.get(f"{URL}/openapi.json", timeout=1)
            return server
        except requests.ConnectionError:
            time.sleep(0.05)
    server.kill()
    sys.exit("demo: the server did not answer")


def in_container(job: dict) -> str:
    """Run the job in the training image where a Docker engine answers and has it."""
    client = engine()
    if client is None or not client.images.list(name="bmlocal/train:cpu"):
        return "as processes (no Docker engine with bmlocal/train:cpu: see `make images`)"
    job["train_config"].update(env_type="CCR", image="/bmlocal/train", tag="cpu")
    return "in Docker containers of bmlocal/train:cpu"


def main() -> int:
    code_dir = DATA / "pfs" / "examples" / "ddp"
    shutil.rmtree(code_dir, ignore_errors=True)
    shutil.copytree(HERE / "ddp", code_dir)
    job = json.loads((HERE / "demo-job.json").read_text())
    job["name"] = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    job["train_config"]["output_path"] = f"/outputs/{job['name']}"
    where = in_container(job)
    job_file = DATA / f"{job['name']}.json"
    job_file.write_text(json.dumps(job, indent=2))
    server = start_server()
    try:
        print(f"demo: submitting {job_file.name}: {job['resource_config']['node_count']} "
              f"nodes, {job['train_config']['distribute_strategy']}, {where}", flush=True)
        # `bmlocal submit` creates the job and follows every node's log until it ends
        exit_code = bmlocal_cli(["submit", str(job_file), "--url", URL])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    outputs = DATA / "pfs" / job["train_config"]["output_path"].lstrip("/")
    print(f"demo: outputs in {outputs}:")
    for path in sorted(outputs.rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(outputs)}  ({path.stat().st_size} bytes)")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
