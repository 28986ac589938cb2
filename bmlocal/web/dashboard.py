"""The dashboard: server-rendered pages (Jinja escapes every value) with a little JavaScript
for the live logs and the confirmations. Behind the API's tokens: with credentials
configured, a sign-in with AK/SK keeps a token in an HttpOnly cookie. Forms carry a
token matching a SameSite cookie, so another site cannot post them."""
import functools
import hmac
import secrets
from typing import Any, Callable
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, g, make_response, redirect, render_template, request

from bmlocal import metrics
from bmlocal.api.auth import Auth, TokenError
from bmlocal.api.validation import MAX_ROW_ID
from bmlocal.errors import ApiError
from bmlocal.runtime.service import JobService
from bmlocal.runtime.status import Status
from bmlocal.runtime.store import Job
from bmlocal.runtime.views import Views
from bmlocal.web.access import HTTP_STATUS, TOKEN_COOKIE, Viewer, viewer

CSRF_COOKIE = "bmlocal_csrf"
PAGE_SIZE = 20
STATUSES = [s.value for s in Status if s != Status.UNTRAIN]
HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                      "object-src 'none'; base-uri 'none'; "
                                      "frame-ancestors 'none'; form-action 'self'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}


def csrf_token() -> str:
    kept = request.cookies.get(CSRF_COOKIE)
    if kept:
        return kept
    if "csrf_made" not in g:
        g.csrf_made = secrets.token_urlsafe(24)
    return g.csrf_made


def csrf_ok() -> bool:
    given, kept = request.form.get("csrf", ""), request.cookies.get(CSRF_COOKIE, "")
    return bool(kept) and hmac.compare_digest(given.encode(), kept.encode())


def finish(response: Response) -> Response:
    """Security headers, and the form token's cookie where this request made one."""
    response.headers.update(HEADERS)
    made = g.get("csrf_made")
    if made and not request.cookies.get(CSRF_COOKIE):
        response.set_cookie(CSRF_COOKIE, made, httponly=True, samesite="Strict")
    return response


def page_number(text: str) -> int:
    """The jobs page asked for: 1 for anything but a plausible page number."""
    return int(text) if text.isascii() and text.isdigit() and 0 < len(text) <= 9 and \
        int(text) > 0 else 1


def safe_next(target: str | None) -> str:
    """Only a path of this server: never another site (//evil, /\\evil, https:..., nor
    /<tab>/evil, which browsers read as //evil)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or \
            any(ord(c) < 32 or c == "\\" for c in target):
        return "/"
    return target


def page(template: str, status: int = 200, **values: Any) -> Response:
    return finish(make_response(render_template(template, csrf=csrf_token(), **values),
                                status))


def message(exc: ApiError) -> Response:
    metrics.note_error(request.environ, exc.code)
    return page("message.html", HTTP_STATUS.get(exc.code, 400), code=exc.code,
                text=exc.message)


def blueprint(service: JobService, auth: Auth, views: Views) -> Blueprint:
    bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/ui-static")

    def signed_in(view: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(view)
        def wrapped(**kwargs: Any) -> Response:
            try:
                who = viewer(auth)
            except ApiError:
                return finish(redirect("/login?" + urlencode({"next": request.full_path})))
            if request.method == "POST" and not csrf_ok():
                return message(ApiError(406001, "param[csrf] invalid: reload the page and "
                                                "try again"))
            try:
                return view(who, **kwargs)
            except ApiError as exc:
                return message(exc)
        return wrapped

    def visible_job(who: Viewer, job_id: int) -> Job:
        job = views.store.get(job_id) if job_id <= MAX_ROW_ID else None
        if job is None or not who.allows(job.project):
            raise ApiError(406012)
        return job

    @bp.route("/", methods=["GET"])
    @signed_in
    def jobs(who: Viewer) -> Response:
        project = request.args.get("project") or None
        status = request.args.get("status") or None
        text = request.args.get("q") or None
        number = page_number(request.args.get("page", ""))
        allowed = who.projects()
        if project is not None:
            who.check(project)
            allowed = [project]
        total, rows = views.store.search(allowed, status if status in STATUSES else None,
                                         text, (number - 1) * PAGE_SIZE, PAGE_SIZE)
        projects = who.projects() or views.store.projects()
        filters = {k: v for k, v in (("project", project), ("status", status), ("q", text))
                   if v}
        return page("jobs.html", jobs=rows, total=total, number=number,
                    pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1), filters=filters,
                    projects=projects, statuses=STATUSES, run_minutes=service.run_minutes,
                    link=lambda **changes: "/?" + urlencode({**filters, **changes}),
                    open_auth=auth.open)

    @bp.route("/jobs/<int:job_id>", methods=["GET"])
    @signed_in
    def job_page(who: Viewer, job_id: int) -> Response:
        job = visible_job(who, job_id)
        logs = service.job_logs(job.project, job.id).names()
        return page("job.html", job=job, spec=job.spec, history=views.history(job),
                    nodes=views.nodes(job), logs=logs, outputs=views.outputs(job),
                    position=views.queue_position(job), run_minutes=service.run_minutes(job),
                    open_auth=auth.open)

    @bp.route("/jobs/<int:job_id>/stop", methods=["POST"])
    @signed_in
    def stop(who: Viewer, job_id: int) -> Response:
        job = visible_job(who, job_id)
        service.stop(job.project, job.id)
        return finish(redirect(f"/jobs/{job.id}"))

    @bp.route("/jobs/<int:job_id>/delete", methods=["POST"])
    @signed_in
    def delete(who: Viewer, job_id: int) -> Response:
        job = visible_job(who, job_id)
        service.delete(job.project, job.id)
        return finish(redirect("/"))

    @bp.route("/jobs/<int:job_id>/outputs/<path:relative>", methods=["GET"])
    @signed_in
    def output(who: Viewer, job_id: int, relative: str) -> Response:
        f = views.open_output(visible_job(who, job_id), relative)
        if f is None:
            raise ApiError(406012, "no such output file")

        def chunks():
            with f:
                while data := f.read(1 << 16):
                    yield data
        name = relative.rsplit("/", 1)[-1]
        return finish(Response(chunks(), mimetype="application/octet-stream", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"}))

    @bp.route("/pools", methods=["GET"])
    @signed_in
    def pools(who: Viewer) -> Response:
        return page("pools.html", pools=views.pool_views(), who=who, gpus=views.gpus,
                    open_auth=auth.open)

    @bp.route("/login", methods=["GET", "POST"])
    def login() -> Response:
        target = safe_next(request.values.get("next"))
        if auth.open:
            return finish(redirect(target))
        if request.method == "GET":
            return page("login.html", target=target, error="")
        if not csrf_ok():
            return page("login.html", 400, target=target, error="the form expired: try again")
        try:
            issued = auth.issue("client_credentials", request.form.get("ak", ""),
                                request.form.get("sk", ""))
        except TokenError as exc:
            return page("login.html", 401, target=target,
                        error=exc.body.get("error_description", "sign-in failed"))
        response = finish(redirect(target))
        response.set_cookie(TOKEN_COOKIE, issued["access_token"], max_age=auth.ttl,
                            httponly=True, samesite="Strict")
        return response

    @bp.route("/logout", methods=["POST"])
    def logout() -> Response:
        if not csrf_ok():
            return message(ApiError(406001, "param[csrf] invalid: reload the page"))
        response = finish(redirect("/login"))
        response.delete_cookie(TOKEN_COOKIE)
        return response

    return bp
