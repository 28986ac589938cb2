"""A memory cgroup for one process node: its `memory` as a hard limit with no swap beyond
it, and whether the kernel killed something in it for going over. cgroup v2 where its
memory controller is mounted, v1 otherwise. Standard library only: the supervisor uses it.

Each node's cgroup is made under the supervisor's own one and named after the supervisor's
pid, so cgroups that a killed supervisor left behind can be told apart and removed.
"""
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PREFIX = "bmlocal-node-"


class Unavailable(Exception):
    """This machine or user cannot limit memory through cgroups; the message says why."""


def _mounts() -> tuple[Path | None, Path | None]:
    """The cgroup v2 mount that offers the memory controller, and the v1 memory mount."""
    v2 = v1 = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" - ")
        if len(fields) != 2:
            continue
        mount_point = Path(fields[0].split()[4])
        kind, _, options = fields[1].split()[:3]
        if kind == "cgroup2" and "memory" in _read(mount_point / "cgroup.controllers"):
            v2 = mount_point
        elif kind == "cgroup" and "memory" in options.split(","):
            v1 = mount_point
    return v2, v1


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _own(v2: bool) -> str:
    """This process's cgroup path within the v2 or the v1 memory hierarchy."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (v2 and controllers == "") or (not v2 and "memory" in controllers.split(",")):
            return path.lstrip("/")
    raise Unavailable("this process is in no memory cgroup")


class MemoryCgroup:
    def __init__(self, path: Path, v2: bool) -> None:
        self.path, self.v2 = path, v2

    @classmethod
    def create(cls, limit_bytes: int) -> "MemoryCgroup":
        v2_mount, v1_mount = _mounts()
        mount = v2_mount or v1_mount
        if mount is None:
            raise Unavailable("no cgroup memory controller is mounted")
        parent = mount / _own(v2_mount is not None)
        _remove_stale(parent)
        group = cls(parent / f"{PREFIX}{os.getpid()}", v2_mount is not None)
        try:
            if group.v2:
                (parent / "cgroup.subtree_control").write_text("+memory")
            group.path.mkdir(exist_ok=True)
            group._limit(limit_bytes)
        except OSError as exc:
            group.remove()
            raise Unavailable(f"cannot make a memory cgroup under {parent}: "
                              f"{exc.strerror or exc}") from None
        return group

    def _limit(self, limit_bytes: int) -> None:
        if self.v2:
            (self.path / "memory.max").write_text(str(limit_bytes))
            self._write_if_present("memory.swap.max", "0")
        else:  # memsw (memory plus swap) may not be set below the memory limit
            (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))
            self._write_if_present("memory.memsw.limit_in_bytes", str(limit_bytes))

    def _write_if_present(self, name: str, value: str) -> None:
        if (self.path / name).exists():
            (self.path / name).write_text(value)

    @contextmanager
    def entered(self) -> Iterator[None]:
        """The calling process in the cgroup while it starts the node's process, which is
        born there. (That process entering it itself, in a `preexec_fn`, costs
        `subprocess` its vfork: a full fork of the supervisor, 1.5 ms of CPU a node.)"""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))
        try:
            yield
        finally:
            try:  # back to the supervisor's own cgroup, where this one was made
                (self.path.parent / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:  # left in it, the supervisor is limited with its node
                pass

    def oom_kills(self) -> int:
        name = "memory.events" if self.v2 else "memory.oom_control"
        for line in _read(self.path / name).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def remove(self) -> None:
        """Call once nothing of the node runs."""
        try:
            self.path.rmdir()
        except OSError:
            pass


def _remove_stale(parent: Path) -> None:
    """Cgroups of supervisors that no longer run (killed before they could clean up)."""
    for path in parent.glob(f"{PREFIX}*"):
        pid = path.name.removeprefix(PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            try:
                path.rmdir()
            except OSError:
                pass
