"""A real bmlocal server process on a free port, with temporary directories."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from bmlocal.serverlog import BATCH_SECONDS

BASE = "/rpc/2.0/easydl/pro/remotetrain"
TERMINAL = {"SUCCESSED", "FAILED", "STOPPED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_body(name: str = "job", start_cmd: str = "python -c 'print(1)'", **changes: Any
             ) -> dict[str, Any]:
    """A valid create body; `changes` maps dotted names (train_config.code_path) to values."""
    body: dict[str, Any] = {
        "name": name, "description": "a test job", "prjId": "p1",
        "train_config": {"env_type": "DEFAULT", "output_UrlSource": "PFS",
                         "output_path": f"/out/{name}", "code_UrlSource": "PFS",
                         "start_cmd": start_cmd},
        "dataset_config": {},
        "resource_config": {"resource_type": "PUBLIC", "node_count": 1,
                            "resource_name": "CPU_4C_16G", "max_duration": 1},
    }
    return apply_changes(body, changes)


DELETE = object()


def apply_changes(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Set dotted fields (train_config.code_path) of `body`; the value DELETE removes one."""
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        where = body
        for part in parents:
            where = where[part]
        if value is DELETE:
            where.pop(last, None)
        else:
            where[last] = value
    return body


@dataclass
class Server:
    root: Path
    config: str = ""
    hour_seconds: float = 3600
    grace_seconds: float = 3
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    token: str = "test-token"
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def pfs(self) -> Path:
        return self.root / "pfs"

    @property
    def bos(self) -> Path:
        return self.root / "bos"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        self.port = self.port or free_port()
        self.pfs.mkdir(parents=True, exist_ok=True)
        self.bos.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "bmlocal.cli", "serve", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--pfs-root", str(self.pfs),
                "--bos-root", str(self.bos), "--hour-seconds", str(self.hour_seconds),
                "--grace-seconds", str(self.grace_seconds), *self.extra_args]
        if self.config:
            config = self.root / "bmlocal.toml"
            config.write_text(self.config)
            args += ["--config", str(config)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("BMLOCAL_")}
        env.update(self.env)
        log = open(self.root / "server.log", "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_text()[-2000:]}")
            try:
                requests.get(f"{self.url}/openapi.json", timeout=1)
                return
            except (requests.ConnectionError, requests.Timeout):  # a loaded machine
                time.sleep(0.05)
        raise RuntimeError("server did not answer within 30 s")

    def log_text(self) -> str:
        """The server's log as the file holds it now: a line reaches the file within
        serverlog.BATCH_SECONDS of being logged (use wait_log or settled_log)."""
        return (self.root / "server.log").read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 10) -> str:
        """The server's log once it holds `text`."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log_text()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the server log: {log[-2000:]}")
            time.sleep(0.02)
        return log

    def settled_log(self) -> str:
        """The server's log once every line logged before this call has reached it."""
        time.sleep(10 * BATCH_SECONDS)
        return self.log_text()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def restart(self) -> None:
        self.stop()
        self.start()

    # --- calls -------------------------------------------------------------------------

    def post(self, method: str, body: Any, token: str | None = None) -> requests.Response:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return requests.post(f"{self.url}{BASE}/{method}",
                             params={"access_token": token or self.token}, data=data,
                             headers={"Content-Type": "application/json"}, timeout=30)

    def call(self, method: str, body: Any, token: str | None = None) -> dict[str, Any]:
        answer = self.post(method, body, token)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def ok(self, method: str, body: Any) -> Any:
        payload = self.call(method, body)
        assert "error_code" not in payload, payload
        return payload["result"]

    def error(self, method: str, body: Any) -> tuple[int, str]:
        payload = self.call(method, body)
        assert "error_code" in payload, payload
        return payload["error_code"], payload["error_msg"]

    def create(self, name: str = "job", start_cmd: str = "python -c 'print(1)'",
               **changes: Any) -> int:
        return self.ok("create", job_body(name, start_cmd, **changes))

    def detail(self, job_id: int, project: str = "p1") -> dict[str, Any]:
        return self.ok("detail", {"id": job_id, "prjId": project})

    def wait(self, job_id: int, statuses: set[str] | str = frozenset(TERMINAL),
             timeout: float = 60, project: str = "p1", every: float = 0.05
             ) -> dict[str, Any]:
        wanted = {statuses} if isinstance(statuses, str) else set(statuses)
        deadline = time.monotonic() + timeout
        while True:
            info = self.detail(job_id, project)
            if info["train_status"] in wanted:
                return info
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {info['train_status']}: {info}")
            time.sleep(every)

    def node_log(self, job_id: int, rank: int = 0) -> str:
        path = self.data_dir / "jobs" / str(job_id) / "logs" / f"node-{rank}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def write_code(self, rel: str, files: dict[str, str]) -> str:
        """Write files under a PFS directory; its PFS path. Each file is replaced whole
        (written beside it, then renamed): a job staging the directory while a test writes
        it again would otherwise copy a file cut short."""
        base = self.pfs / rel.strip("/")
        for name, text in files.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            partial = base / f"{name}.writing"
            partial.write_text(text)
            partial.replace(base / name)
        return "/" + rel.strip("/")
