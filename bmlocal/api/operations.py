"""The cloud's operations: a request's body and project in, the answer's `result` out."""
from typing import Any, Callable

from bmlocal.api.validation import CreateValidator, require_id, require_int, require_page
from bmlocal.errors import ApiError
from bmlocal.runtime.joblogs import MAX_FILE_OFFSET
from bmlocal.runtime.service import JobService
from bmlocal.runtime.store import Job

Operation = Callable[[dict[str, Any], str], Any]
NAMES = frozenset({"create", "stop", "delete", "list", "detail", "logs"})


class Operations:
    def __init__(self, service: JobService, validator: CreateValidator) -> None:
        self.service = service
        self.validator = validator
        self._fields = JobFields()
        self._named: dict[str, Operation] = {name: getattr(self, f"op_{name}")
                                             for name in NAMES}

    def named(self, method: str) -> Operation | None:
        """The operation a path's last part names; None for any other."""
        return self._named.get(method)

    def op_create(self, body: dict[str, Any], project: str) -> int:
        return self.service.create(self.validator.parse(body, project))

    def op_stop(self, body: dict[str, Any], project: str) -> bool:
        self.service.stop(project, require_id(body))
        return True

    def op_delete(self, body: dict[str, Any], project: str) -> bool:
        self.service.delete(project, require_id(body))
        return True

    def op_list(self, body: dict[str, Any], project: str) -> dict[str, Any]:
        total, jobs = self.service.page(project, *require_page(body))
        return {"total": total, "items": [list_item(self.service, j) for j in jobs]}

    def op_detail(self, body: dict[str, Any], project: str) -> dict[str, Any]:
        job = self.service.detail(project, require_id(body))
        return {**self._fields.of(job), "run_time": self.service.run_minutes(job),
                **self.service.describe(job)}

    def op_logs(self, body: dict[str, Any], project: str) -> dict[str, Any]:
        """bmlocal's own extension: read a job's log files while it runs."""
        job_id = require_id(body)
        offset = require_int(body, "offset", default=0)
        if not 0 <= offset <= MAX_FILE_OFFSET:
            raise ApiError(406001, "param[offset] invalid")
        name = body.get("file", "node-0.log")
        if not isinstance(name, str):
            raise ApiError(406001, "param[file] invalid")
        chunk = self.service.job_logs(project, job_id).read(name, offset)
        return {"file": name, "offset": chunk.offset, "content": chunk.text}


def list_item(service: JobService, job: Job) -> dict[str, Any]:
    return {"id": job.id, "name": job.name, "description": job.spec.description,
            "train_status": job.status.value, "run_time": service.run_minutes(job),
            "resource_type": job.spec.resource_type, "resource_name": job.spec.resource_name,
            "framework": job.spec.framework, "create_time": int(job.create_time)}


class JobFields:
    """A detail's fields that only a write of the job changes, made once a version of the
    job: the store hands out the same Job object until it writes the job, so a client that
    polls is answered without building them again (4 us of a detail's 60 in process)."""

    def __init__(self, limit: int = 4096) -> None:
        self._made: dict[int, tuple[Job, dict[str, Any]]] = {}
        self._limit = limit

    def of(self, job: Job) -> dict[str, Any]:
        made = self._made.get(job.id)
        if made is not None and made[0] is job:
            return made[1]
        fields = job_fields(job)
        if len(self._made) >= self._limit:
            self._made.clear()
        self._made[job.id] = (job, fields)
        return fields


def job_fields(job: Job) -> dict[str, Any]:
    """Every field of a detail but run_time and what the runtime describes (its logs)."""
    spec, grant = job.spec, job.grant
    result = {
        "id": job.id, "name": job.name, "description": spec.description,
        "train_status": job.status.value, "create_time": int(job.create_time),
        "train_config": {
            "code_path": spec.code_path or "", "start_cmd": spec.start_cmd,
            "output_path": spec.output_path, "framework": spec.framework,
            "env_type": spec.env_type, "image": spec.image or "", "tag": spec.tag or "",
            "distribute_strategy": spec.distribute_strategy or "",
            "repository_id": spec.repository_id or "",
            "trainset_path": spec.trainset_path or "", "evalset_path": spec.evalset_path or "",
            "code_UrlSource": spec.code_source, "output_UrlSource": spec.output_source,
        },
        "resource_config": {
            "resource_type": spec.resource_type, "node_count": spec.node_count,
            "resource_name": spec.resource_name, "max_duration": spec.max_duration,
            "gpu_type": grant.get("gpu_type", spec.gpu_type or ""),
            "gpu_num": grant.get("gpu_num", spec.gpu_num or 0),
            "cpu_num": str(grant.get("cpu_num", spec.cpu_num or 0)),  # the seed's type
            "memory": grant.get("memory", spec.memory or 0), "rdma": spec.rdma,
        },
        "dataset_config": {
            "trainset_path": spec.trainset_path or "", "evalset_path": spec.evalset_path or "",
            "trainset_UrlSource": spec.trainset_source or "",
            "evalset_UrlSource": spec.evalset_source or "",
        },
    }
    if job.status.is_terminal():
        result["status_reason"] = job.status_reason
    elif job.stop_reason:
        result["status_reason"] = f"ending: {job.stop_reason}"
    elif job.status_reason:  # why it waits (a cluster's queue: Slurm's state and reason)
        result["status_reason"] = job.status_reason
    if job.output_note:
        result["output_note"] = job.output_note
    return result
