"""Every request counted and timed for the metrics, by operation and error code, and the
/metrics route itself (behind the API's tokens when credentials are configured)."""
import time
from typing import Any, Callable, Iterable

from flask import Blueprint, Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST

from bmlocal import metrics
from bmlocal.api.auth import Auth
from bmlocal.api.gate import OPERATION
from bmlocal.errors import ApiError
from bmlocal.runtime.views import Views
from bmlocal.web.access import error_response, viewer


def operation(environ: dict[str, Any], code: int | None) -> str:
    """A bounded label: the cloud method, or the route's endpoint; never the raw path."""
    req = environ.get("werkzeug.request")
    if req is None:  # answered before Flask (an injected fault)
        return environ.get(OPERATION, "unknown")
    if req.url_rule is None:
        return "unknown"
    if req.endpoint == "call":
        method = (req.view_args or {}).get("method", "")
        return "unsupported" if code == 3 else method
    return req.endpoint or "unknown"


def count_requests(app: Flask) -> None:
    """Every request timed and counted by one WSGI layer around the whole app."""
    answer = app.wsgi_app

    def counted(environ: dict[str, Any], start_response: Callable[..., Any]
                ) -> Iterable[bytes]:
        started = time.perf_counter()
        statuses: list[str] = []

        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)
        chunks = answer(environ, start)
        code = environ.get(metrics.ERROR_CODE)
        if code is None:
            status = int(statuses[-1][:3]) if statuses else 500
            code = status if status >= 400 else 0
        metrics.request_done(operation(environ, code), code, time.perf_counter() - started)
        return chunks
    app.wsgi_app = counted  # type: ignore[method-assign]


def blueprint(auth: Auth, views: Views) -> Blueprint:
    bp = Blueprint("metrics", __name__)

    @bp.route("/metrics", methods=["GET"])
    def exposition() -> Response:
        if not auth.open:
            try:
                viewer(auth)
            except ApiError as exc:
                return error_response(exc)
        return Response(metrics.exposition(views), content_type=CONTENT_TYPE_LATEST)

    return bp
