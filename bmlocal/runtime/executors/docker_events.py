"""What the Docker engine last said about one server's containers, kept up to date by
following the engine's event stream (not by asking about each container every tick), with
a listing of them every few seconds as the safety net. It also knows whether the engine
answers: a stream that breaks, or a listing that fails, makes it unreachable until it
answers again."""
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import docker
import requests
from docker.errors import DockerException, NotFound

from bmlocal.runtime.executors.base import NODE_LOST

log = logging.getLogger("bmlocal.docker")
RESYNC_SECONDS = 5.0  # the safety net: a listing of the containers this often
RETRY_SECONDS = 0.5  # between tries to reach an engine that does not answer
# How a call fails when the engine is gone (connection refused, no socket) or hangs.
UNREACHABLE = (requests.ConnectionError, requests.Timeout)
ENDED = ("exited", "dead")


@dataclass(frozen=True)
class State:
    exit_code: int | None = None  # None while it runs
    oom_killed: bool = False
    while_away: bool = False  # seen ended only once the engine answered again


GONE = State(exit_code=NODE_LOST)  # removed by someone else before it was seen to end


class ContainerWatch:
    def __init__(self, client: docker.DockerClient, label: str,
                 on_reachable: Callable[[], None] = lambda: None,
                 resync_seconds: float = RESYNC_SECONDS) -> None:
        self.client = client
        self.label = label  # "key=value": the containers of this server
        self.on_reachable = on_reachable
        self.resync_seconds = resync_seconds
        self._states: dict[str, State] = {}
        self._lock = threading.Lock()
        self._unreachable_since: float | None = None  # wall clock
        self._stream: Any = None
        self._halt = threading.Event()
        self._connected = threading.Event()

    # --- what the executor asks ----------------------------------------------------------

    @property
    def reachable(self) -> bool:
        return self._unreachable_since is None

    @property
    def unreachable_since(self) -> float | None:
        return self._unreachable_since

    def state(self, container_id: str) -> State | None:
        with self._lock:
            return self._states.get(container_id)

    def expect(self, container_id: str) -> None:
        """A container just started: running until the engine says otherwise."""
        with self._lock:
            self._states.setdefault(container_id, State())

    def learn(self, container_id: str) -> State | None:
        """Ask the engine about one container it has not told of; None if it has none."""
        try:
            attrs = self.client.api.inspect_container(container_id)
        except NotFound:
            return None
        self._record(container_id, self._from_inspect(attrs))
        return self.state(container_id)

    def forget(self, container_id: str) -> None:
        with self._lock:
            self._states.pop(container_id, None)

    # --- the threads ---------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self._follow, name="docker-events", daemon=True).start()
        threading.Thread(target=self._safety_net, name="docker-resync", daemon=True).start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def close(self) -> None:
        self._halt.set()
        self._close_stream()

    def _follow(self) -> None:
        """Follow the event stream; reconnect, and catch up by a listing, when it breaks."""
        while not self._halt.is_set():
            try:
                self.client.api.ping()  # bounded by the client's timeout; events() is not
                self._stream = self.client.api.events(
                    decode=True, filters={"type": "container", "label": self.label})
                self._resync(reconnected=not self.reachable)  # what happened meanwhile
                self._set_reachable()
                for event in self._stream:
                    self._on_event(event)
            except UNREACHABLE + (DockerException,) as exc:
                log.debug("engine events: %s", exc)
            if not self._halt.is_set():
                self._set_unreachable()
                self._halt.wait(RETRY_SECONDS)

    def _safety_net(self) -> None:
        """A listing every few seconds: a missed event costs at most this long, and an
        engine that hangs (its stream silent, not closed) is found out."""
        while not self._halt.wait(self.resync_seconds):
            if not self.reachable:
                continue  # the follower is reconnecting
            try:
                self._resync(reconnected=False)
            except UNREACHABLE + (DockerException,) as exc:
                log.debug("engine listing: %s", exc)
                self._set_unreachable()
                self._close_stream()  # the follower reconnects when the engine is back

    def _close_stream(self) -> None:
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # a stream whose socket is gone already
                pass

    def _set_reachable(self) -> None:
        was_away = self._unreachable_since is not None
        self._unreachable_since = None
        self._connected.set()
        if was_away:
            log.warning("the Docker engine answers again")
            try:
                self.on_reachable()
            except Exception:  # a removal that failed is tried at the next reconnection
                log.exception("after reconnection")

    def _set_unreachable(self) -> None:
        if self._unreachable_since is None:
            self._unreachable_since = time.time()
            log.warning("the Docker engine does not answer")

    # --- what the engine says ------------------------------------------------------------

    def _on_event(self, event: dict[str, Any]) -> None:
        action, cid = event.get("Action") or event.get("status"), event.get("id")
        if not cid:
            return
        if action == "die":
            try:
                self._record(cid, self._from_inspect(self.client.api.inspect_container(cid)))
            except NotFound:  # removed at once: the event's exit code is all there is
                code = (event.get("Actor", {}).get("Attributes", {}).get("exitCode"))
                self._record(cid, State(int(code) if code is not None else NODE_LOST))
        elif action == "destroy":
            self._record_gone(cid)

    def _resync(self, reconnected: bool) -> None:
        with self._lock:  # only these can be missing: one started later is not listed yet
            known_before = set(self._states)
        listed = self.client.api.containers(all=True, filters={"label": self.label})
        present = {c["Id"]: c["State"] for c in listed}
        for cid, status in present.items():
            known = self.state(cid)
            if status in ENDED and (known is None or known.exit_code is None):
                state = self._from_inspect(self.client.api.inspect_container(cid))
                if reconnected and known is not None:
                    state = State(state.exit_code, state.oom_killed, while_away=True)
                self._record(cid, state)
        for cid in known_before - set(present):
            self._record_gone(cid)

    @staticmethod
    def _from_inspect(attrs: dict[str, Any]) -> State:
        state = attrs["State"]
        if state["Status"] not in ENDED:
            return State()
        return State(int(state["ExitCode"]), bool(state.get("OOMKilled")))

    def _record(self, cid: str, state: State) -> None:
        """States only move forward: an ended container never runs again (no restart
        policy), so a listing older than an event cannot undo what the event said."""
        with self._lock:
            known = self._states.get(cid)
            if known is None or known.exit_code is None:
                self._states[cid] = state

    def _record_gone(self, cid: str) -> None:
        with self._lock:
            known = self._states.get(cid)
            if known is not None and known.exit_code is None:
                self._states[cid] = GONE
            # an ended one keeps its exit code: it was removed after it ended

