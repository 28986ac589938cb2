"""The way in and out of every cloud call, as one WSGI layer in front of the Flask app: the
body read once, the admin API's armed faults applied, the call and its answer recorded and
counted for the metrics.

A layer rather than Flask hooks: a `detail` costs the server's CPU about a tenth less
(bench/bench_serving.py), and a fault answers without reaching Flask at all. Cloud calls are
counted here, not by the metrics' own layer (bmlocal/web/instrument.py), which passes them
by: one layer fewer on the hottest path.
"""
import time
from urllib.parse import parse_qsl
from typing import Any, Callable, Iterable

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from bmlocal import metrics
from bmlocal.api.app import BASE, BODY, MAX_BODY, LogIds, error_envelope
from bmlocal.api.faults import Fault, Faults, drop_connection
from bmlocal.api.operations import NAMES
from bmlocal.api.record import Call, CallRecord
from bmlocal.errors import MESSAGES, ApiError

TOKEN_PATH = "/oauth/2.0/token"
LABELS = NAMES | {"token"}  # the metrics' operation labels: a bounded set, never a raw path
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def operation_of(path: str) -> str | None:
    """The cloud operation a path names ("create", ..., "token"), None for others."""
    if path == TOKEN_PATH:
        return "token"
    if path.startswith(BASE + "/"):
        return path[len(BASE) + 1:] or None
    return None


class CallGate:
    def __init__(self, app: WSGIApp, record: CallRecord, faults: Faults,
                 log_ids: LogIds) -> None:
        self.app = app
        self.record = record
        self.faults = faults
        self.log_ids = log_ids

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        operation = operation_of(environ.get("PATH_INFO", ""))
        if operation is None:
            return self.app(environ, start_response)
        called, started = time.time(), time.perf_counter()
        body = None if operation == "token" else read_body(environ)
        fault = self.faults.take(operation)
        if fault is None:
            status, answer = self._answer(environ, body)
        else:
            status, answer = self._meet(fault, environ, body)
        self.record.add(Call(operation, request_args(environ) if operation == "token"
                             else body or b"", b"".join(answer), status[0], called,
                             fault.effect() if fault else None))
        count(environ, operation, status[0], time.perf_counter() - started)
        start_response(*status[1:])
        return answer

    def _answer(self, environ: dict[str, Any], body: bytes | None
                ) -> tuple[tuple[int, str, list], list[bytes]]:
        if body is not None:
            environ[BODY] = body
        kept: list[tuple[int, str, list]] = []

        def start(status: str, headers: list, exc_info: Any = None) -> None:
            kept.append((int(status[:3]), status, headers))
        chunks = self.app(environ, start)
        try:
            answer = list(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        return kept[-1], answer

    def _meet(self, fault: Fault, environ: dict[str, Any], body: bytes | None
              ) -> tuple[tuple[int, str, list], list[bytes]]:
        if fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault.drop and drop_connection(environ):
            return (500, "500 Internal Server Error", []), [b""]  # nobody reads it
        if fault.error_code is None:
            return self._answer(environ, body)
        metrics.note_error(environ, fault.error_code)
        answer = error_envelope(ApiError(fault.error_code, fault.error_msg or
                                         message(fault.error_code)), self.log_ids())
        return (200, "200 OK", [("Content-Type", "application/json"),
                                ("Content-Length", str(len(answer)))]), [answer]


def count(environ: dict[str, Any], operation: str, status: int, seconds: float) -> None:
    code = metrics.answered_code(environ, status)
    label = operation if operation in LABELS and code != 3 else "unsupported"
    metrics.request_done(label, code, seconds)


def read_body(environ: dict[str, Any]) -> bytes | None:
    """The request's body; None where it is over MAX_BODY (the API answers that itself)."""
    length = environ.get("CONTENT_LENGTH")
    if length and length.isdigit():
        if int(length) > MAX_BODY:
            return None
        return environ["wsgi.input"].read(int(length))
    try:  # no length given: chunked, or a server that ends the input itself
        return get_input_stream(environ, max_content_length=MAX_BODY).read()
    except RequestEntityTooLarge:
        return None


def request_args(environ: dict[str, Any]) -> dict[str, str]:
    """The token endpoint's arguments: from the request Flask parsed; from the query string
    alone where a fault answered before Flask."""
    request = environ.get("werkzeug.request")
    if request is None:
        return dict(parse_qsl(environ.get("QUERY_STRING", "")))
    return {**request.form.to_dict(), **request.args.to_dict()}


def message(code: int) -> str:
    return MESSAGES.get(code, f"error {code} (a fault injected by bmlocal's admin API)")
