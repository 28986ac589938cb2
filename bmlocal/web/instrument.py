"""Every request counted and timed for the metrics, by operation and error code, and the
/metrics route itself (behind the API's tokens when credentials are configured).

Cloud calls are counted by the call gate (bmlocal/api/gate.py), which knows their operation
and answer; this layer counts every other route."""
import time
from typing import Any, Callable, Iterable

from flask import Blueprint, Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException

from bmlocal import metrics
from bmlocal.api.auth import Auth
from bmlocal.api.gate import operation_of
from bmlocal.errors import ApiError
from bmlocal.runtime.views import Views
from bmlocal.web.access import error_response, viewer


def operation(app: Flask, environ: dict[str, Any]) -> str:
    """A bounded label: the route's endpoint; never the raw path. The path is matched again:
    Flask has let go of the request by the time its answer is counted."""
    try:
        endpoint, _ = app.url_map.bind_to_environ(environ).match()
    except HTTPException:  # no such route, or not with this method
        return "unknown"
    return str(endpoint)


def count_requests(app: Flask) -> None:
    """Every request but the cloud calls timed and counted by one WSGI layer around the app."""
    answer = app.wsgi_app

    def counted(environ: dict[str, Any], start_response: Callable[..., Any]
                ) -> Iterable[bytes]:
        if operation_of(environ.get("PATH_INFO", "")) is not None:
            return answer(environ, start_response)  # counted by the call gate
        started = time.perf_counter()
        statuses: list[str] = []

        def start(status: str, headers: list, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)
        chunks = answer(environ, start)
        code = metrics.answered_code(environ, int(statuses[-1][:3]) if statuses else 500)
        metrics.request_done(operation(app, environ), code, time.perf_counter() - started)
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
