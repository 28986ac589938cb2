"""The record of API calls a server received: operation, body (secrets removed), answer and
time, read back by test suites through the admin API.

Calls are kept raw (bytes) when they arrive and parsed only when read, so that recording
costs a request almost nothing; the oldest go once `limit` are kept.
"""
import json
import re
import threading
from collections import deque
from typing import Any, NamedTuple

SECRET_KEY = re.compile(r"secret|password|passwd|token|session_key|credential|^sk$|"
                        r"access_key|authorization", re.IGNORECASE)
HIDDEN = "***"


class Call(NamedTuple):  # a tuple: made at every call, a third of a frozen dataclass's cost
    operation: str
    body: bytes | dict[str, str]  # the JSON body as sent; the token endpoint's arguments
    answer: bytes
    http_status: int
    time: float
    fault: str | None = None  # what an armed fault did to it

    def view(self) -> dict[str, Any]:
        body = self.body if isinstance(self.body, dict) else parse(self.body)
        return {"operation": self.operation, "body": redact(body), "answer":
                redact(parse(self.answer)), "http_status": self.http_status,
                "time": self.time, "fault": self.fault}


def parse(raw: bytes) -> Any:
    """JSON where it is JSON, else the text (cut short)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw[:2000].decode("utf-8", errors="replace")


def redact(value: Any) -> Any:
    """`value` with the values of secret-looking keys (at any depth) replaced by ***."""
    if isinstance(value, dict):
        return {k: HIDDEN if SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class CallRecord:
    """The last `limit` calls, at most `budget` bytes of bodies and answers in all: a server
    whose logs are read by polling must not keep every chunk it sent."""

    def __init__(self, limit: int = 10000, budget: int = 32 << 20) -> None:
        self._calls: deque[Call] = deque()
        self._limit = limit
        self._budget = budget
        self._bytes = 0
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            self._bytes += size(call)
            while self._calls and (len(self._calls) > self._limit or self._bytes > self._budget):
                self._bytes -= size(self._calls.popleft())

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            kept = sorted(self._calls, key=lambda c: c.time)  # in the order they came
        return [c.view() for c in kept if operation is None or c.operation == operation]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._bytes = 0


def size(call: Call) -> int:
    return len(call.answer) + (len(call.body) if isinstance(call.body, bytes) else 0)
