"""bmlocal's own admin calls, for test suites, under /bmlocal/admin (never the cloud's base
path): drive jobs by hand (advance, fail, release, hold), faults on demand, the record of
calls, simulate rules added at run time, and a reset that empties all of it in milliseconds.

Served where the API's auth allows: open on a loopback server without credentials; with
credentials, a valid `access_token` whose key may use the job's project (for a job's calls)
or every project, "*" (for the rest). Errors use the API's envelope with a fitting status.
"""
import json
import time
from dataclasses import dataclass
from typing import Any, Callable

from flask import Blueprint, Flask, Response, request
from pydantic import BaseModel, ConfigDict, ValidationError

from bmlocal.api.app import LogIds, error_reply, reply
from bmlocal.api.auth import Auth
from bmlocal.api.faults import Fault, Faults
from bmlocal.api.gate import CallGate
from bmlocal.api.record import CallRecord
from bmlocal.config_model import mistakes
from bmlocal.errors import ApiError
from bmlocal.runtime.executors.simulate import SimulateExecutor
from bmlocal.runtime.executors.simulate_rules import Rule
from bmlocal.runtime.reset import reset_jobs
from bmlocal.runtime.service import JobService
from bmlocal.runtime.status import ALLOWED, Status, can_move

ADMIN = "/bmlocal/admin"
SETTLE_SECONDS = 10.0  # an advance answers once the job shows its new status, or after this
DEFAULT_REASONS = {Status.SUCCESSED: "every node exited with code 0",
                   Status.FAILED: "failed by hand (bmlocal admin)",
                   Status.STOPPED: "stopped by hand (bmlocal admin)"}
EXIT_CODES = {Status.SUCCESSED: 0, Status.FAILED: 1, Status.STOPPED: 143}


class AdminError(Exception):
    def __init__(self, http_status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.http_status, self.code, self.message = http_status, code, message


class Advance(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    status: str
    reason: str | None = None


class Hold(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    on: bool = True


@dataclass
class Admin:
    service: JobService
    auth: Auth
    simulate: SimulateExecutor | None
    record: CallRecord
    faults: Faults

    # --- jobs by hand ------------------------------------------------------------------

    def advance(self, job_id: int, status: Status, reason: str | None) -> dict[str, Any]:
        job = self._job(job_id)
        if not can_move(job.status, status):
            allowed = ", ".join(sorted(s.value for s in ALLOWED[job.status])) or "none"
            raise AdminError(409, 406027, f"job {job_id} is {job.status.value}: "
                             f"{job.status.value} -> {status.value} is not an allowed "
                             f"transition (allowed: {allowed})")
        if status == Status.RUNNING:
            self._release(job_id, job.phase)
        elif job.status == Status.PENDING:
            self._end_pending(job_id, status, reason or DEFAULT_REASONS[status])
        else:
            self._end_running(job_id, status, reason or DEFAULT_REASONS[status])
        return self._settled(job_id, status)

    def _release(self, job_id: int, phase: str) -> None:
        if self.simulate is None or not self.simulate.release_pending(job_id):
            raise AdminError(409, 406027, f"job {job_id} is PENDING ({phase}) but not in a "
                             "simulated PENDING time: it starts once its resources are "
                             "free; only a simulated wait can be released")

    def _end_pending(self, job_id: int, status: Status, reason: str) -> None:
        store, clock = self.service.store, self.service.clock
        if not store.move(job_id, Status.PENDING, status, end_time=clock.now(),
                          status_reason=reason):
            raise AdminError(409, 406027, f"job {job_id} left PENDING meanwhile")
        self.service.scheduler.runner.cancel(job_id)  # a start under way is abandoned
        if self.simulate is not None:
            self.simulate.release_pending(job_id)
        self.service.scheduler.wake()

    def _end_running(self, job_id: int, status: Status, reason: str) -> None:
        store = self.service.store
        if not store.request_end(job_id, Status.RUNNING, status, reason):
            raise AdminError(409, 406027, f"job {job_id} is being ended already")
        if self.simulate is not None:  # its simulated nodes end now, not at their time
            for rank, handle, code in store.nodes(job_id):
                if code is None and handle.get("kind") == self.simulate.name:
                    self.simulate.end_node(handle, EXIT_CODES[status])
        self.service.scheduler.wake(admit=False)

    def _settled(self, job_id: int, status: Status) -> dict[str, Any]:
        deadline = time.monotonic() + SETTLE_SECONDS
        job = self._job(job_id)
        while job.status != status and not job.status.is_terminal() and \
                time.monotonic() < deadline:
            time.sleep(0.002)
            job = self._job(job_id)
        return {"id": job.id, "train_status": job.status.value,
                "status_reason": job.status_reason}

    def _job(self, job_id: int) -> Any:
        job = self.service.store.get(job_id)
        if job is None:
            raise AdminError(404, 406012, f"job {job_id} does not exist")
        return job

    # --- everything at once ------------------------------------------------------------

    def reset(self) -> dict[str, Any]:
        started = time.perf_counter()
        removed = reset_jobs(self.service.scheduler, self.simulate)
        self.record.clear()
        self.faults.clear()
        return {"jobs_removed": removed,
                "seconds": round(time.perf_counter() - started, 6)}


def install(app: Flask, service: JobService, auth: Auth,
            simulate: SimulateExecutor | None) -> Admin:
    """Register the admin calls, and the gate that records calls and injects faults."""
    admin = Admin(service, auth, simulate, CallRecord(), Faults())
    log_ids: LogIds = app.extensions.get("bmlocal.log_ids") or LogIds()
    app.wsgi_app = CallGate(app.wsgi_app, admin.record, admin.faults,  # type: ignore[method-assign]
                            log_ids)
    app.register_blueprint(blueprint(admin, log_ids))
    return admin


def blueprint(admin: Admin, log_ids: LogIds) -> Blueprint:
    bp = Blueprint("bmlocal_admin", __name__, url_prefix=ADMIN)

    def route(rule: str, methods: list[str], everything: bool = True
              ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            def answer(**kwargs: Any) -> Response:
                try:
                    _authorize(admin, kwargs.get("job_id"), everything)
                    return reply(handler(**kwargs))
                except AdminError as exc:
                    return error_reply(ApiError(exc.code, exc.message), log_ids(),
                                       exc.http_status)
                except ApiError as exc:
                    status = 401 if exc.code in (110, 111) else 403
                    return error_reply(exc, log_ids(), status)
            bp.add_url_rule(rule, handler.__name__, answer, methods=methods)
            return handler
        return register

    @route("/jobs/<int:job_id>/advance", ["POST"], everything=False)
    def advance(job_id: int) -> dict[str, Any]:
        wanted = _parse(Advance)
        return admin.advance(job_id, _status(wanted.status), wanted.reason)

    @route("/jobs/<int:job_id>/fail", ["POST"], everything=False)
    def fail(job_id: int) -> dict[str, Any]:
        body = _json()
        reason = body.get("reason")
        if reason is not None and (not isinstance(reason, str) or not reason):
            raise AdminError(400, 406001, "param[reason] invalid: a non-empty string")
        return admin.advance(job_id, Status.FAILED, reason)

    @route("/jobs/<int:job_id>/release", ["POST"], everything=False)
    def release(job_id: int) -> dict[str, Any]:
        return admin.advance(job_id, Status.RUNNING, None)

    @route("/faults", ["POST"])
    def arm() -> dict[str, Any]:
        admin.faults.arm(_parse(Fault))
        return {"armed": admin.faults.armed()}

    @route("/faults", ["GET"])
    def armed() -> dict[str, Any]:
        return {"armed": admin.faults.armed()}

    @route("/faults", ["DELETE"])
    def disarm() -> dict[str, Any]:
        admin.faults.clear()
        return {"armed": []}

    @route("/calls", ["GET"])
    def calls() -> dict[str, Any]:
        return {"calls": admin.record.calls(request.args.get("operation"))}

    @route("/calls", ["DELETE"])
    def forget_calls() -> dict[str, Any]:
        admin.record.clear()
        return {"calls": []}

    @route("/hold", ["POST"])
    def hold() -> dict[str, Any]:
        on = _parse(Hold).on
        _simulate(admin).hold(on)
        return {"hold": on}

    @route("/rules", ["POST"])
    def add_rule() -> dict[str, Any]:
        _simulate(admin).add_rule(_parse(Rule))
        return {"rules": _simulate(admin).describe_rules()}

    @route("/rules", ["GET"])
    def rules() -> dict[str, Any]:
        return {"rules": _simulate(admin).describe_rules()}

    @route("/reset", ["POST"])
    def reset() -> dict[str, Any]:
        return admin.reset()

    return bp


def _authorize(admin: Admin, job_id: int | None, everything: bool) -> None:
    key = admin.auth.check_token(request.args.get("access_token"))
    if key is None:  # open: a loopback server without credentials
        return
    if everything or job_id is None:
        if "*" not in key.projects:
            raise ApiError(406037, "no operation permission: the admin calls need a key "
                                   "whose projects include \"*\"")
        return
    job = admin.service.store.get(job_id)
    if job is not None and not key.allows(job.project):
        raise ApiError(406037)


def _json() -> dict[str, Any]:
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise AdminError(400, 406001, "param[body] invalid: not JSON") from None
    if not isinstance(body, dict):
        raise AdminError(400, 406001, "param[body] invalid: a JSON object")
    return body


def _parse(model: type[BaseModel]) -> Any:
    try:
        return model.model_validate(_json())
    except ValidationError as exc:
        raise AdminError(400, 406001, "; ".join(_param(line) for line in mistakes(exc))
                         ) from None


def _param(mistake: str) -> str:
    """"times: input should be ..." as the API words it: "param[times] invalid: ..."."""
    place, _, why = mistake.partition(": ")
    return f"param[{place or 'body'}] invalid: {why}"


def _status(text: str) -> Status:
    try:
        return Status(text)
    except ValueError:
        raise AdminError(400, 406001, f"param[status] invalid: {text!r} is none of "
                         + ", ".join(s.value for s in Status)) from None


def _simulate(admin: Admin) -> SimulateExecutor:
    if admin.simulate is None:
        raise AdminError(409, 406034, "this server runs no simulate executor: start it with "
                         "--executor simulate, or give a pool backend = \"simulate\"")
    return admin.simulate
