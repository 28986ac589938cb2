"""Nodes as Docker containers, through the Engine API (the `docker` SDK; DOCKER_HOST is
honoured). One container per node, host networking, the /bml paths of the job-environment
contract bind-mounted, the node's output written straight into its log file on the host.
The containers' ends come from the engine's event stream (docker_events); an engine that
stops answering leaves its nodes unknown (running) until it is back, but a node killed
meanwhile counts as ended (NODE_UNREACHABLE), and its container is removed once the engine
answers again."""
import getpass
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.images import Image
from docker.types import DeviceRequest

from bmlocal.runtime.executors.base import (NODE_LOST, NODE_UNREACHABLE, OUT_OF_MEMORY, Handle,
                                            JobPaths, NodeSpec)
from bmlocal.runtime.executors.docker_events import UNREACHABLE, ContainerWatch
from bmlocal.runtime.executors.docker_pull import PULL_TIMEOUT_SECONDS, Pulls

log = logging.getLogger("bmlocal.docker")
INSIDE = JobPaths("/bml/code", "/bml/output", "/bml/logs", "/bml/train", "/bml/eval")
# The node's command, its output into the node's log file through the /bml/logs mount. A
# SIGTERM (docker stop) is passed on to every process of the node's process group, and the
# container lives on until the command has ended, so the whole grace period is the job's.
# A `wait` that the trap cut short answers 143, not the node's code: the node is waited for
# again (127: it had been waited for already, and `code` is its own).
WRAPPER = """
"$@" >> "/bml/logs/node-$BML_NODE_RANK.log" 2>&1 &
node=$!
trap 'trap "" TERM; cut=1; kill -TERM 0 2>/dev/null' TERM
cut=; wait $node; code=$?
while [ -n "$cut" ] || kill -0 $node 2>/dev/null; do
    cut=; wait $node; next=$?; [ $next -ne 127 ] && code=$next
done
exit $code
"""
AGENTS = "/opt/bmlocal/lib"  # bmlocal's node agents (stdlib + framework), mounted read-only
PACKAGE = str(Path(__file__).resolve().parents[2])
INSTANCE_LABEL = "bmlocal.instance"  # the server's data dir: servers may share an engine
NO_GPU_DRIVER = "could not select device driver"  # the engine's words: no GPU runtime
NO_GPU = ("this machine has no NVIDIA driver and container toolkit (nvidia-container-toolkit) "
          "that it knows of")
ENDED_AWAY = ("it ended while the Docker engine did not answer (an engine restarted without "
              "live-restore stops its containers)")


class ImageError(RuntimeError):
    """The job's image cannot be had."""


class GpuError(RuntimeError):
    """The engine cannot pass GPUs to a container."""


def engine() -> docker.DockerClient | None:
    """A client of the engine at DOCKER_HOST (or the default socket), None if none answers."""
    try:
        client = docker.from_env(timeout=10)
        client.ping()
        return client
    except DockerException:
        return None


def image_reference(image: str, repository_id: str | None, registries: dict[str, str]) -> str:
    """`/ns/name:tag` as a local reference, under the registry of `repository_id` if any."""
    local = image.lstrip("/")
    registry = registries.get(repository_id or "")
    return f"{registry.rstrip('/')}/{local}" if registry else local


def python_path(node_path: str | None, image: Image) -> str:
    """The node's PYTHONPATH in its container (see inside_python_path)."""
    env = dict(e.split("=", 1) for e in image.attrs["Config"].get("Env") or [] if "=" in e)
    return inside_python_path(node_path, env.get("PYTHONPATH"))


def inside_python_path(node_path: str | None, image_path: str | None) -> str:
    """The launcher's directories from bmlocal's package (the PyTorch exit hook) as mounted in
    the container, bmlocal's node agents, then the image's own PYTHONPATH. The node's other
    entries (the server's own PYTHONPATH) are the host's and mean nothing there."""
    ours = [f"{AGENTS}/bmlocal/{os.path.relpath(p, PACKAGE)}"
            for p in (node_path or "").split(os.pathsep)
            if p and os.path.commonpath([os.path.abspath(p), PACKAGE]) == PACKAGE]
    return ":".join(p for p in (*ours, AGENTS, image_path) if p)


class DockerExecutor:
    name = "docker"
    python = "python"

    def __init__(self, client: docker.DockerClient, instance: str,
                 registries: dict[str, str], shm_size: str = "8g",
                 pull_timeout: float = PULL_TIMEOUT_SECONDS) -> None:
        self.client = client
        self.instance = instance
        self.registries = registries
        self.shm_size = shm_size
        self.pulls = Pulls(pull_timeout)
        # Containers the engine could not be told about while it did not answer: to kill
        # (a node being ended) and to remove (an ended job's), once it answers again.
        self._to_kill: set[str] = set()
        self._to_remove: set[str] = set()
        self._pending_lock = threading.Lock()
        self.watch = ContainerWatch(client, f"{INSTANCE_LABEL}={instance}",
                                    on_reachable=self._catch_up)
        self.watch.start()

    def view(self, host: JobPaths) -> JobPaths:
        return JobPaths(INSIDE.code, INSIDE.output, INSIDE.logs,
                        INSIDE.train if host.train else None,
                        INSIDE.eval if host.eval else None)

    def base_env(self) -> dict[str, str]:
        # The job runs as the host user's uid, unknown to the image's /etc/passwd.
        user = getpass.getuser()
        return {"PYTHONUNBUFFERED": "1", "USER": user, "LOGNAME": user}

    def start(self, spec: NodeSpec) -> Handle:
        if not spec.image:
            raise ImageError("a container needs an image")
        reference = image_reference(spec.image, spec.repository_id, self.registries)
        image = self._ensure_image(reference, spec.repository_id, spec.log_path)
        # NCCL_HOSTID: the job's nodes share this machine's hostname and boot id, which NCCL
        # takes for one host, and would then try shared memory and CUDA IPC between
        # containers that share neither; as separate hosts they talk over the network.
        env = {"NCCL_HOSTID": f"bmlocal-job{spec.job_id}-node{spec.rank}", **spec.env,
               "PYTHONPATH": python_path(spec.env.get("PYTHONPATH"), image)}
        if spec.gpus:  # the container sees only its GPUs, numbered from 0
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(spec.gpus)))
        api = self.client.api
        name = f"bmlocal-job{spec.job_id}-node{spec.rank}-{os.urandom(3).hex()}"
        host_config = api.create_host_config(
            binds=self._mounts(spec.host_paths), init=True, network_mode="host",
            shm_size=self.shm_size, **self._limits(spec))
        container = api.create_container(
            reference, ["/bin/sh", "-c", WRAPPER, "bmlocal-node", *spec.argv], name=name,
            labels={**spec.labels, INSTANCE_LABEL: self.instance}, environment=env,
            working_dir=INSIDE.code, user=f"{os.getuid()}:{os.getgid()}",
            host_config=host_config)
        handle = {"kind": self.name, "id": container["Id"], "name": name}
        self.watch.expect(container["Id"])
        try:
            api.start(container["Id"])
        except APIError as exc:
            self.release(handle)
            if spec.gpus and NO_GPU_DRIVER in str(exc.explanation):
                raise GpuError(f"the Docker engine cannot give GPUs to containers: {NO_GPU}"
                               f" ({exc.explanation})") from None
            raise
        return handle

    def _ensure_image(self, reference: str, repository_id: str | None, log_path: Path
                      ) -> Image:
        try:
            return self.client.images.get(reference)
        except ImageNotFound:
            pass
        if (repository_id or "") not in self.registries:
            raise ImageError(f"image {reference} is not on this machine and no registry "
                             f"is configured for repository_id {repository_id!r}")
        with open(log_path, "a", encoding="utf-8") as out:
            out.write(f"bmlocal: waiting for image {reference} (at most "
                      f"{self.pulls.timeout:g} s)\n")
        self.pulls.wait(reference, lambda: self._pull(reference, log_path))
        return self.client.images.get(reference)

    def _pull(self, reference: str, log_path: Path) -> None:
        name, _, tag = reference.rpartition(":")
        with open(log_path, "a", encoding="utf-8") as out:
            out.write(f"bmlocal: pulling {reference}\n")
            try:
                for event in self.client.api.pull(name, tag=tag, stream=True, decode=True):
                    if "error" in event:
                        raise ImageError(f"cannot pull {reference}: {event['error']}")
                    out.write(f"bmlocal: {event.get('status', '')} "
                              f"{event.get('progress', '')}\n".rstrip() + "\n")
                    out.flush()
            except APIError as exc:
                raise ImageError(f"cannot pull {reference}: {exc.explanation}") from None

    @staticmethod
    def _mounts(host: JobPaths) -> dict[str, dict[str, str]]:
        mounts = {PACKAGE: {"bind": f"{AGENTS}/bmlocal", "mode": "ro"},
                  host.code: {"bind": INSIDE.code, "mode": "rw"},
                  host.output: {"bind": INSIDE.output, "mode": "rw"},
                  host.logs: {"bind": INSIDE.logs, "mode": "rw"}}
        if host.train:
            mounts[host.train] = {"bind": INSIDE.train, "mode": "ro"}
        if host.eval:
            mounts[host.eval] = {"bind": INSIDE.eval, "mode": "ro"}
        return mounts

    @staticmethod
    def _limits(spec: NodeSpec) -> dict[str, Any]:
        limits: dict[str, Any] = {}
        if spec.cpus:
            limits["nano_cpus"] = int(min(spec.cpus, os.cpu_count() or 1) * 1e9)
        if spec.memory_gb:  # and no swap beyond it (the engine's default is twice as much)
            limits["mem_limit"] = limits["memswap_limit"] = f"{spec.memory_gb}g"
        if spec.gpus:
            limits["device_requests"] = [DeviceRequest(
                device_ids=[str(g) for g in spec.gpus], capabilities=[["gpu"]])]
        if spec.devices:
            limits["devices"] = [f"{d}:{d}:rwm" for d in spec.devices]
        return limits

    def poll(self, handle: Handle) -> int | None:
        """From what the engine's events said; None while the engine does not answer, but
        NODE_UNREACHABLE for a node killed meanwhile (its job can end)."""
        cid = handle["id"]
        state = self.watch.state(cid)
        if state is not None and state.exit_code is not None:
            return state.exit_code
        if not self.watch.reachable:
            return NODE_UNREACHABLE if cid in self._to_kill else None
        if state is None:  # started by an earlier server, or not yet seen by the watch
            try:
                state = self.watch.learn(cid)
            except UNREACHABLE:
                return None
            if state is None:
                return NODE_LOST
        return state.exit_code

    def exit_note(self, handle: Handle) -> str:
        state = self.watch.state(handle["id"])
        if state is None:
            return ""
        if state.oom_killed:
            return OUT_OF_MEMORY
        return ENDED_AWAY if state.while_away else ""

    def trouble(self, handle: Handle) -> str:
        """Why the node's state is not known now, or ""."""
        since = self.watch.unreachable_since
        if since is None:
            return ""
        return (f"the Docker engine does not answer (for {time.time() - since:.0f} s): "
                "the state of the job's containers is unknown")

    def stop(self, handle: Handle, grace: float) -> None:
        """`docker stop` in the background: SIGTERM now, SIGKILL after `grace`."""
        def stop() -> None:
            try:
                self.client.api.stop(handle["id"], timeout=int(grace + 0.999))
            except (NotFound, APIError, *UNREACHABLE) as exc:
                log.info("stop %s: %s", handle["name"], exc)
        threading.Thread(target=stop, name=f"stop-{handle['name']}", daemon=True).start()

    def kill(self, handle: Handle) -> None:
        try:
            self.client.api.kill(handle["id"])
        except (NotFound, APIError):
            pass  # already gone or not running
        except UNREACHABLE:  # killed once the engine answers; the node counts as ended
            with self._pending_lock:
                self._to_kill.add(handle["id"])

    def adopt(self, handle: Handle) -> None:
        """Nothing to attach: the container runs on and is watched through the engine."""

    def release(self, handle: Handle) -> None:
        try:
            self.client.api.remove_container(handle["id"], force=True)
        except NotFound:
            pass
        except UNREACHABLE:  # removed once the engine answers again
            with self._pending_lock:
                self._to_remove.add(handle["id"])
            return
        self.watch.forget(handle["id"])

    def _catch_up(self) -> None:
        """The engine answers again: kill and remove what could not be, meanwhile."""
        with self._pending_lock:
            to_kill, self._to_kill = self._to_kill, set()
            to_remove, self._to_remove = self._to_remove, set()
        for cid in to_kill - to_remove:
            self.kill({"id": cid})
        for cid in to_remove:
            self.release({"id": cid})
            log.warning("removed container %s of an ended job", cid[:12])

    def sweep(self, known: set[str]) -> list[str]:
        """Remove containers labelled as bmlocal's that no stored node knows; their names."""
        removed = []
        mine = {"label": f"{INSTANCE_LABEL}={self.instance}"}
        for container in self.client.containers.list(all=True, filters=mine):
            if container.id not in known:
                container.remove(force=True)
                removed.append(container.name)
        return removed
