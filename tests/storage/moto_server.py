"""A real S3-compatible server for tests and benchmarks: moto's server mode on 127.0.0.1.

Other test folders reuse it: `from tests.storage.moto_server import start_or_skip`."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.client import BaseClient
from botocore.config import Config

from tests.support.require import missing

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
# moto accepts any credentials; these are distinctive so that tests can look for leaks.
ACCESS_KEY = "AKIABMLOCALTEST0001"
SECRET_KEY = "bmlocal-test-secret-7Qx2"
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


class MotoMissing(RuntimeError):
    """moto[server] is not installed in this Python environment."""


def moto_executable() -> Path:
    script = Path(sys.executable).parent / "moto_server"
    if not script.exists():
        raise MotoMissing(f"moto_server not found beside {sys.executable}; install moto[server]")
    return script


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_moto(log_dir: Path, port: int | None = None) -> tuple[str, Callable[[], None]]:
    """Start `moto_server -H 127.0.0.1 -p PORT` (a free port unless one is given), wait until
    it answers; (endpoint URL, stop). Its output goes to log_dir/moto-PORT.log."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"moto-{port}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [str(moto_executable()), "-H", HOST, "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    endpoint = f"http://{HOST}:{port}"

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    try:
        _wait_ready(endpoint, process, log_path)
    except BaseException:
        stop()
        raise
    return endpoint, stop


def start_or_skip(log_dir: Path, port: int | None = None) -> tuple[str, Callable[[], None]]:
    """start_moto for a test: skips it when moto[server] is not installed, or fails it
    under BMLOCAL_REQUIRE_S3=1 (CI)."""
    try:
        return start_moto(log_dir, port)
    except MotoMissing as exc:
        missing("S3", str(exc))


def _wait_ready(endpoint: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"moto_server exited with {process.returncode}: {log_path.read_text()[-2000:]}"
            )
        try:
            with DIRECT.open(f"{endpoint}/moto-api/", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer at {endpoint} within {START_TIMEOUT:.0f} s")


def client_for(endpoint: str, config: Config | None = None) -> BaseClient:
    """A plain boto3 client (botocore's defaults unless `config`) for the server at `endpoint`."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=config,
    )
