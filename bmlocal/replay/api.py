"""bmlocal's replay routes, outside the cloud's base path, with the API's tokens:

    POST /bmlocal/replay      {"job": <cloud job>, "prjId"?, "dry_run"?, "sources"?}
    GET  /bmlocal/export?id=7&prjId=p       the create body that runs job 7 in the cloud
    GET  /bmlocal/provenance?id=7&prjId=p   job 7's bml-run.json (once it has ended)

Errors carry the API's codes and name the field: 406001 `param[job.resource_config.
node_count] invalid: expected an integer, got '2'`. Nothing is created unless every check
passed."""
import json
import socket
from typing import Any, Callable
from urllib.parse import urlsplit

from flask import Blueprint, Response, request

from bmlocal.api.app import json_body
from bmlocal.api.auth import Auth
from bmlocal.api.validation import CreateValidator
from bmlocal.errors import ApiError
from bmlocal.replay import provenance
from bmlocal.replay.cloudjob import ReplayInputError, parse
from bmlocal.replay.config import ReplayConfig
from bmlocal.replay.export import for_cloud, without_secrets
from bmlocal.replay.mapping import Machine, MappingError, map_job
from bmlocal.runtime import rdma
from bmlocal.runtime.layout import JobDir
from bmlocal.runtime.service import JobService
from bmlocal.web.access import error_response, viewer, whole_number

NAME_LIMIT = 50
SUFFIX_TRIES = 50
PATH_FIELDS = {406019: "code_path", 406021: "output_path", 406022: "trainset_path",
               406023: "evalset_path"}
REGISTRY_PROBE_SECONDS = 2.0


def ok(result: Any) -> Response:
    return Response(json.dumps({"result": result}, ensure_ascii=False),
                    mimetype="application/json")


def blueprint(service: JobService, auth: Auth, validator: CreateValidator,
              config: ReplayConfig | None, container: Any) -> Blueprint:
    bp = Blueprint("replay_api", __name__)
    settings = config or ReplayConfig()

    def machine() -> Machine:  # read per request: the GPUs and devices as they are now
        return Machine(service.pools, len(service.allocator.gpus), tuple(rdma.devices()),
                       image_check(container))

    @bp.route("/bmlocal/replay", methods=["POST"])
    def replay() -> Response:
        try:
            who = viewer(auth)
            body = json_body()  # UTF-8 JSON whatever the Content-Type says
            if not isinstance(body, dict):
                raise ApiError(406001, "param[body] invalid: a JSON object is expected")
            result = run_replay(service, validator, settings, machine(), body, who.check)
        except ApiError as exc:
            return error_response(exc)
        return ok(result)

    @bp.route("/bmlocal/export", methods=["GET"])
    def export() -> Response:
        try:
            job = _job(service, auth)
            origin = provenance.read_json(JobDir.of(service.data_dir, job.id).root,
                                          provenance.REPLAY_NAME)
            body = for_cloud(job.spec, (origin or {}).get("cloud_body"))
        except ApiError as exc:
            return error_response(exc)
        return ok(body)

    @bp.route("/bmlocal/provenance", methods=["GET"])
    def record() -> Response:
        try:
            job = _job(service, auth)
            data = provenance.kept(service.data_dir, job.id)
            if data is None:
                raise ApiError(406027, f"job status exception: job {job.id} has no "
                                       f"{provenance.NAME} yet (it is {job.status.value})")
        except ApiError as exc:
            return error_response(exc)
        return ok(data)

    return bp


def _job(service: JobService, auth: Auth) -> Any:
    who = viewer(auth)
    project = request.args.get("prjId", "")
    if not project:
        raise ApiError(406001, "param[prjId] invalid")
    who.check(project)
    return service.detail(project, whole_number("id"))


def run_replay(service: JobService, validator: CreateValidator, config: ReplayConfig,
               machine: Machine, body: dict[str, Any], check: Callable[[str], None]
               ) -> dict[str, Any]:
    sources = body.get("sources") or {}
    if not isinstance(sources, dict) or any(v not in ("BOS", "PFS") for v in sources.values()):
        raise ApiError(406001, "param[sources] invalid: each source is BOS or PFS")
    defaults = {"code": config.code_source, "dataset": config.dataset_source,
                "output": config.output_source}
    try:
        job = parse(body.get("job"), sources, defaults)
    except ReplayInputError as exc:
        place = "job" if exc.field == "job" else f"job.{exc.field}"
        raise ApiError(406001, f"param[{place}] invalid: {exc.message}") from None
    project = body.get("prjId") or job.project or config.project
    if not isinstance(project, str) or not project:
        raise ApiError(406001, "param[prjId] invalid: the job names no project; give one "
                               "(--project) or set [replay] project")
    check(project)
    try:
        local, rows = map_job(job, config, machine)
    except MappingError as exc:
        raise ApiError(exc.code, f"{exc.field}: {exc.message}") from None
    spec = _validated(validator, local, project)
    result = {"project": project, "kind": job.kind, "rows": [r.to_dict() for r in rows],
              "body": {**local, "prjId": project}, "id": None, "name": spec.name}
    if body.get("dry_run") is True:
        return result
    job_id, name = _create(service, validator, local, project)
    origin = {"kind": job.kind, "cloud_id": job.cloud_id, "rows": result["rows"],
              "cloud_body": without_secrets(job.body)}
    _keep_origin(service, job_id, origin)
    return {**result, "id": job_id, "name": name,
            "body": {**local, "name": name, "prjId": project}}


def _validated(validator: CreateValidator, local: dict[str, Any], project: str) -> Any:
    try:
        return validator.parse({**local, "prjId": project}, project)
    except ApiError as exc:
        place = PATH_FIELDS.get(exc.code)
        if place is None:
            raise
        section = "train_config" if place in ("code_path", "output_path") else "dataset_config"
        path = local[section].get(place, "")
        source = local[section].get(place.replace("_path", "_UrlSource"), "")
        raise ApiError(exc.code, f"{exc.message}: {section}.{place} {source} {path} is not "
                                 "found here (bmlocal mirror copies it from the cloud)") from None


def _create(service: JobService, validator: CreateValidator, local: dict[str, Any],
            project: str) -> tuple[int, str]:
    """Created under the job's name, or the first free `name-replay-N`."""
    base = local["name"]
    for n in range(SUFFIX_TRIES):
        name = base if n == 0 else _suffixed(base, f"-replay{'' if n == 1 else f'-{n}'}")
        try:
            spec = validator.parse({**local, "name": name, "prjId": project}, project)
            return service.create(spec), name
        except ApiError as exc:
            if exc.code != 406026:
                raise
    raise ApiError(406026, f"job name already exists: {base} and {SUFFIX_TRIES - 1} "
                           "replay names after it are taken")


def _suffixed(name: str, suffix: str) -> str:
    return name[:NAME_LIMIT - len(suffix)] + suffix


def _keep_origin(service: JobService, job_id: int, origin: dict[str, Any]) -> None:
    provenance.write(service.data_dir, ("jobs", str(job_id)), origin, provenance.REPLAY_NAME)


def image_check(container: Any) -> Callable[[str, str, str], tuple[str, str]]:
    """What can be had here of a CCR job's image: in the local engine, from a registry
    that answers, or not at all."""
    def check(image: str, tag: str, repository_id: str) -> tuple[str, str]:
        if container is None:
            return "unavailable", "no Docker engine here: a CCR job cannot run its image"
        from bmlocal.runtime.executors.docker import image_reference
        reference = image_reference(image, repository_id, container.registries)
        ref = f"{reference}:{tag}"
        try:
            found = container.client.images.get(ref)
            return "kept", f"{ref} in the local engine ({found.short_id})"
        except Exception:  # noqa: BLE001 - not found, or the engine's own error
            pass
        registry = container.registries.get(repository_id or "")
        if not registry:
            return "unavailable", (f"{ref} is not in the local engine and no registry is "
                                   f"configured for repository_id {repository_id!r}")
        if reachable(registry):
            return "kept", f"pulled from {registry} when the job starts"
        return "unavailable", f"registry {registry} cannot be reached; {ref} is not here"
    return check


def reachable(registry: str) -> bool:
    parts = urlsplit(registry if "://" in registry else f"//{registry}")
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 443),
                                      timeout=REGISTRY_PROBE_SECONDS):
            return True
    except OSError:
        return False
