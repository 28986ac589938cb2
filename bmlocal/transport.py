"""How bmlocal.client sends a request: through requests (TLS, proxies, a session the caller
gives), or, for plain HTTP to this machine (a local bmlocal, a test double), through one
keep-alive http.client connection per thread, which costs a third of requests' CPU."""
import http.client
import json
import select
import socket
import threading
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import requests

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class NoAnswer(Exception):
    """The request got no answer: refused, dropped, or too slow (`timed_out`)."""

    def __init__(self, why: str, timed_out: bool = False) -> None:
        super().__init__(why)
        self.timed_out = timed_out


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Transport(Protocol):
    def send(self, method: str, path: str, params: dict[str, str],
             body: Any = None) -> Answer: ...

    def close(self) -> None: ...


class RequestsTransport:
    def __init__(self, url: str, timeout: float, session: requests.Session) -> None:
        self.url, self.timeout, self.session = url, timeout, session

    def send(self, method: str, path: str, params: dict[str, str], body: Any = None
             ) -> Answer:
        try:
            answer = self.session.request(method, self.url + path, params=params,
                                          json=body, timeout=self.timeout)
        except requests.Timeout:
            raise NoAnswer("timeout", timed_out=True) from None
        except requests.RequestException as exc:
            raise NoAnswer(type(exc).__name__) from exc
        return Answer(answer.status_code, answer.content)

    def close(self) -> None:
        self.session.close()


class LoopbackTransport:
    """Plain HTTP/1.1 keep-alive to a loopback server, one connection per thread."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()

    def send(self, method: str, path: str, params: dict[str, str], body: Any = None
             ) -> Answer:
        target = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn = self._connection()
        try:
            conn.request(method, target, body=data, headers=headers)
            response = conn.getresponse()
            content = response.read()
        except socket.timeout:
            self._drop()
            raise NoAnswer("timeout", timed_out=True) from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            raise NoAnswer(type(exc).__name__) from exc
        if response.will_close:
            self._drop()
        return Answer(response.status, content)

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and _closed_by_peer(conn):
            self._drop()
            conn = None
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def close(self) -> None:
        self._drop()


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle kept-alive socket that is readable has been closed by the server (it sends
    nothing unasked): reusing it would lose the next request."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def transport_for(url: str, timeout: float, session: requests.Session | None) -> Transport:
    if session is None and urlsplit(url).scheme == "http" and \
            urlsplit(url).hostname in LOOPBACK:
        return LoopbackTransport(url, timeout)
    return RequestsTransport(url, timeout, session or requests.Session())
