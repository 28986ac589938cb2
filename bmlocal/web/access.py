"""Who is asking, for the routes outside the cloud's base path: a token given as
`?access_token=`, as `Authorization: Bearer`, or kept by the dashboard's sign-in in a
cookie; checked exactly like the API's tokens. And the envelope these routes answer errors
with, under an HTTP status that says what kind of error it is."""
import itertools
import json
import time
from dataclasses import dataclass

from flask import Response, request

from bmlocal import metrics
from bmlocal.api.auth import Auth
from bmlocal.config import Credential
from bmlocal.errors import ApiError

TOKEN_COOKIE = "bmlocal_token"
HTTP_STATUS = {18: 429, 110: 401, 111: 401, 406037: 403, 406012: 404, 406001: 400, 406014: 409,
               406027: 409}
_log_ids = itertools.count(time.time_ns() // 1000 + 1)


@dataclass(frozen=True)
class Viewer:
    key: Credential | None  # None: the server has no credentials (loopback, anyone)

    def allows(self, project: str) -> bool:
        return self.key is None or self.key.allows(project)

    def projects(self) -> list[str] | None:
        """The projects this viewer may see; None for all of them."""
        if self.key is None or "*" in self.key.projects:
            return None
        return sorted(self.key.projects)

    def check(self, project: str) -> None:
        if not self.allows(project):
            raise ApiError(406037)


def token_given() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer "):].strip()
    return request.args.get("access_token") or request.cookies.get(TOKEN_COOKIE)


def viewer(auth: Auth) -> Viewer:
    """The viewer behind the request's token; ApiError 110/111 without a valid one."""
    return Viewer(auth.check_token(token_given()))


def error_response(exc: ApiError) -> Response:
    metrics.note_error(request.environ, exc.code)
    body = {"error_code": exc.code, "error_msg": exc.message, "log_id": next(_log_ids)}
    return Response(json.dumps(body, ensure_ascii=False), HTTP_STATUS.get(exc.code, 400),
                    mimetype="application/json")


def whole_number(name: str, default: int | None = None, low: int = 0) -> int:
    """A query parameter that must be a whole number >= `low`; 406001 otherwise."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ApiError(406001, f"param[{name}] invalid")
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) < low:
        raise ApiError(406001, f"param[{name}] invalid")
    return int(raw)
