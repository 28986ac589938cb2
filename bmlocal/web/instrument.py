"""Every request counted and timed for the metrics, by operation and error code, and the
/metrics route itself (behind the API's tokens when credentials are configured)."""
import time
from typing import Any

from flask import Blueprint, Flask, Request, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST

from bmlocal import metrics
from bmlocal.api.auth import Auth
from bmlocal.errors import ApiError
from bmlocal.runtime.views import Views
from bmlocal.web.access import error_response, viewer


def note_error(code: int) -> None:
    """The error code the current request is answered with (read by the request counter)."""
    g.bmlocal_error_code = code


def operation(req: Request, code: int | None) -> str:
    """A bounded label: the cloud method, or the route's endpoint; never the raw path."""
    if req.url_rule is None:
        return "unknown"
    if req.endpoint == "call":
        method = (req.view_args or {}).get("method", "")
        return "unsupported" if code == 3 else method
    return req.endpoint or "unknown"


def count_requests(app: Flask) -> None:
    # the start stamped by a WSGI wrapper, cheaper than a before_request hook;
    # the request object fetched once per hook: each proxy attribute costs a lookup
    answer = app.wsgi_app

    def timed(environ: dict, start_response: Any) -> Any:
        environ["bmlocal.started"] = time.perf_counter()
        return answer(environ, start_response)
    app.wsgi_app = timed  # type: ignore[method-assign]

    @app.after_request
    def counted(response: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]
        code = g.get("bmlocal_error_code")
        if code is None:
            code = response.status_code if response.status_code >= 400 else 0
        started = req.environ.get("bmlocal.started", time.perf_counter())
        metrics.request_done(operation(req, code), code, time.perf_counter() - started)
        return response


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
