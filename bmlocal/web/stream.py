"""A job's log followed as it grows: server-sent events from an offset, by node, ending
when the job ends.

    GET /stream/v1/logs?id=7&prjId=team-a&node=0&offset=0   (or file=job.log)

Each chunk is `event: log` with `id: <offset after it>` and `data: {"offset", "text"}`;
a status change is `event: status`; the end is `event: end` with the final status and
reason. A dropped connection resumes from the last id (EventSource sends it as
Last-Event-ID; the CLI passes `offset`). A stream lasts at most MAX_SECONDS, then closes
without `end`: the client reconnects from its offset. The file is read in bounded chunks
through a descriptor that stays on it, so a multi-GB log never enters memory."""
import json
import threading
import time
from typing import BinaryIO, Iterator

from flask import Blueprint, Response, request

from bmlocal.api.auth import Auth
from bmlocal.api.validation import require_project
from bmlocal.errors import ApiError
from bmlocal.runtime.joblogs import JobLogs, LogNotFound, is_log_name, read_chunk
from bmlocal.runtime.service import JobService
from bmlocal.runtime.store import Job
from bmlocal.web.access import error_response, viewer, whole_number

PATH = "/stream/v1/logs"
POLL_SECONDS = 0.05  # how often a quiet file is looked at again (one read call)
STATUS_EVERY_SECONDS = 1.0
KEEPALIVE_SECONDS = 5.0  # also how soon a quiet stream notices that its client left
MAX_SECONDS = 300.0
# Streams followed at once: each holds one of the server's threads (16 by default) for as
# long as it lasts, so past this many a new one is refused and the API keeps its threads.
MAX_STREAMS = 8


def event(kind: str, data: dict, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    # ASCII JSON: no character a client could take for a line break (U+2028, U+0085).
    return f"{head}event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


class LogFollower:
    """One stream: the job's log `name` from `offset` until the job ends."""

    def __init__(self, service: JobService, project: str, job_id: int, name: str,
                 offset: int, max_seconds: float = MAX_SECONDS) -> None:
        self.service = service
        self.project = project
        self.job_id = job_id
        self.name = name
        self.offset = offset
        self.deadline = time.monotonic() + max_seconds
        self.logs: JobLogs = service.job_logs(project, job_id)
        self.file: BinaryIO | None = None
        self.status = ""

    def events(self) -> Iterator[bytes]:
        try:
            yield from self._follow()
        finally:
            if self.file is not None:
                self.file.close()

    def _follow(self) -> Iterator[bytes]:
        last_check, last_sent = 0.0, time.monotonic()
        while time.monotonic() < self.deadline:
            sent = False
            for chunk in self._drain():
                yield chunk
                sent = True
            now = time.monotonic()
            if now - last_check >= STATUS_EVERY_SECONDS:
                last_check = now
                job = self._job()
                if job is None:
                    yield event("error", {"error_code": 406012,
                                          "error_msg": ApiError(406012).message})
                    return
                if job.status.value != self.status:
                    self.status = job.status.value
                    yield event("status", {"status": self.status})
                if job.status.is_terminal():
                    yield from self._drain()  # what the last moments wrote
                    yield event("end", {"status": self.status, "reason": job.status_reason,
                                        "offset": self.offset})
                    return
            if sent:
                last_sent = now
            elif now - last_sent >= KEEPALIVE_SECONDS:
                last_sent = now
                yield b": keepalive\n\n"
            else:
                time.sleep(POLL_SECONDS)

    def _job(self) -> Job | None:
        try:
            return self.service.detail(self.project, self.job_id)
        except ApiError:
            return None

    def _drain(self) -> Iterator[bytes]:
        """Every chunk written since the last read."""
        if self.file is None:
            try:
                self.file = self.logs.open(self.name)
            except LogNotFound:  # not written yet (the job waits or stages)
                return
        while True:
            chunk = read_chunk(self.file, self.offset)
            if not chunk.data:
                return
            self.offset = chunk.offset
            yield event("log", {"offset": chunk.offset, "text": chunk.text}, chunk.offset)


def log_name() -> str:
    name = request.args.get("file")
    if name is None:
        return f"node-{whole_number('node', default=0)}.log"
    if not is_log_name(name):
        raise ApiError(406001, "param[file] invalid")
    return name


def blueprint(service: JobService, auth: Auth, max_streams: int = MAX_STREAMS) -> Blueprint:
    bp = Blueprint("stream", __name__)
    places = threading.BoundedSemaphore(max_streams)

    @bp.route(PATH, methods=["GET"])
    def follow() -> Response:
        try:
            who = viewer(auth)
            project = require_project({"prjId": request.args.get("prjId")})
            who.check(project)
            job_id = whole_number("id", low=1)
            name = log_name()
            resumed = request.headers.get("Last-Event-ID", "")
            offset = int(resumed) if resumed.isdigit() and len(resumed) < 19 else \
                whole_number("offset", default=0)
            follower = LogFollower(service, project, job_id, name, offset)
            if not places.acquire(blocking=False):
                raise ApiError(18, f"Open api qps request limit reached: {max_streams} logs "
                                   "are followed at once; try again when one ends")
        except ApiError as exc:
            return error_response(exc)
        response = Response(follower.events(), mimetype="text/event-stream",
                            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        response.call_on_close(places.release)  # however the stream ends, started or not
        return response

    return bp
