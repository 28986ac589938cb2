"""bmlocal's own read-only JSON, outside the cloud's base path, for the CLI and scripts:

    GET /ops/v1/pools                 pools, GPUs and who holds them, each queue in order
    GET /ops/v1/job?id=7&prjId=p      a job's status history, nodes and queue position

Jobs of projects the caller may not see are shown without their name or project."""
import json
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, request

from bmlocal.api.auth import Auth
from bmlocal.api.validation import require_project
from bmlocal.errors import ApiError
from bmlocal.runtime.service import JobService
from bmlocal.runtime.views import Holding, PoolView, Views, Waiting
from bmlocal.web.access import Viewer, error_response, viewer, whole_number

HIDDEN = "(another project)"


def shown(item: Holding | Waiting, who: Viewer) -> dict[str, Any]:
    data = asdict(item)
    if not who.allows(item.project):
        data.update(project=HIDDEN, name=HIDDEN)
    return data


def pool_json(view: PoolView, who: Viewer) -> dict[str, Any]:
    return {"pool": view.key, "type": view.pool.type, "name": view.pool.name,
            "gpu_type": view.pool.gpu_type, "gpus_total": view.gpus_total,
            "gpus_in_use": view.gpus_in_use, "running_jobs": view.running_jobs,
            "holders": [shown(h, who) for h in view.holdings],
            "queue": [shown(w, who) for w in view.queue]}


def job_json(views: Views, service: JobService, project: str, job_id: int) -> dict[str, Any]:
    job = service.detail(project, job_id)
    return {"id": job.id, "train_status": job.status.value,
            "queue_position": views.queue_position(job),
            "history": [asdict(e) for e in views.history(job)],
            "nodes": [asdict(n) for n in views.nodes(job)]}


def ok(result: Any) -> Response:
    return Response(json.dumps({"result": result}, ensure_ascii=False),
                    mimetype="application/json")


def blueprint(service: JobService, auth: Auth, views: Views) -> Blueprint:
    bp = Blueprint("ops_api", __name__)

    @bp.route("/ops/v1/pools", methods=["GET"])
    def pools() -> Response:
        try:
            who = viewer(auth)
        except ApiError as exc:
            return error_response(exc)
        return ok([pool_json(v, who) for v in views.pool_views()])

    @bp.route("/ops/v1/job", methods=["GET"])
    def job() -> Response:
        try:
            who = viewer(auth)
            project = require_project({"prjId": request.args.get("prjId")})
            who.check(project)
            return ok(job_json(views, service, project, whole_number("id", low=1)))
        except ApiError as exc:
            return error_response(exc)

    return bp
