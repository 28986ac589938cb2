"""A second, private Docker engine that a test may stop and start under running jobs: its own
socket, exec-root, pidfile and data-root, never the shared engine of scripts/dockerd.sh.
Its data root persists on this machine, so the base image is loaded into it once."""
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import DockerException

RUN_DIR = Path("/run/bmlocal-test-engine")
DATA_ROOT = Path("/var/lib/bmlocal-test-engine/docker")
IMAGE = "bmlocal/base:bookworm"


class EngineUnavailable(RuntimeError):
    """This machine cannot run a second engine (no dockerd, not root)."""


@dataclass
class OwnEngine:
    run_dir: Path = RUN_DIR
    data_root: Path = DATA_ROOT
    process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"unix://{self.run_dir / 'docker.sock'}"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.host, timeout=10)

    def start(self, live_restore: bool = False) -> "OwnEngine":
        if os.geteuid() != 0 or shutil.which("dockerd") is None:
            raise EngineUnavailable("a second Docker engine needs root and dockerd "
                                    "(scripts/dockerd.sh start installs it)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "docker.sock").unlink(missing_ok=True)
        args = ["dockerd", "--storage-driver=overlay2", f"--host={self.host}",
                f"--data-root={self.data_root}", f"--exec-root={self.run_dir / 'exec'}",
                f"--pidfile={self.run_dir / 'docker.pid'}", "--bridge=none",
                "--iptables=false", "--ip6tables=false"]
        if live_restore:
            args.append("--live-restore")
        log = open(self.run_dir / "dockerd.log", "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_answering(60)
        return self

    def _wait_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise EngineUnavailable(f"dockerd exited: {self.log_tail()}")
            try:
                self.client().ping()
                return
            except DockerException:
                time.sleep(0.1)
        raise EngineUnavailable(f"dockerd did not answer within {timeout:g} s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the daemon (SIGTERM: with live-restore its containers run on, without it
        it stops them first); wait until it is gone."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        self.process.wait(timeout=90)

    def log_tail(self) -> str:
        path = self.run_dir / "dockerd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def ensure_image(self, source: docker.DockerClient, name: str = IMAGE) -> None:
        """`name` in this engine, copied from `source` (docker save | docker load)."""
        mine = self.client()
        if mine.images.list(name=name):
            return
        mine.images.load(b"".join(source.images.get(name).save(named=True)))

    def remove_containers(self, label: str) -> None:
        for container in self.client().containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
