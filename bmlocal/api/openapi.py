"""The OpenAPI 3 document of the API, served at /openapi.json."""
from typing import Any

from bmlocal.api.admin_openapi import admin_paths

BASE = "/rpc/2.0/easydl/pro/remotetrain"

SOURCE = {"type": "string", "enum": ["BOS", "PFS"]}
TEXT = {"type": "string"}


def _int(minimum: int | None = None, maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


CREATE = {
    "type": "object",
    "required": ["name", "description", "train_config", "dataset_config", "resource_config",
                 "prjId"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 50},
        "description": {"type": "string", "minLength": 1, "maxLength": 500},
        "prjId": {"type": "string", "minLength": 1},
        "train_config": {
            "type": "object",
            "required": ["env_type", "output_UrlSource", "output_path", "code_UrlSource",
                         "start_cmd"],
            "properties": {
                "env_type": {"type": "string", "enum": ["CCR", "DEFAULT"]},
                "output_UrlSource": SOURCE, "output_path": TEXT,
                "code_UrlSource": SOURCE, "code_path": TEXT, "start_cmd": TEXT,
                "image": {"type": "string", "description": "/namespace/name"},
                "tag": TEXT, "repository_id": TEXT,
                "distribute_strategy": {"type": "string",
                                        "enum": ["Horovod", "PaddleFleet", "PytorchDDP"]},
            },
        },
        "dataset_config": {
            "type": "object",
            "properties": {"trainset_UrlSource": SOURCE, "trainset_path": TEXT,
                           "evalset_UrlSource": SOURCE, "evalset_path": TEXT},
        },
        "resource_config": {
            "type": "object",
            "required": ["node_count", "resource_name", "max_duration"],
            "properties": {
                "resource_type": {"type": "string", "enum": ["PUBLIC", "USER"]},
                "node_count": _int(1), "resource_name": TEXT,
                "max_duration": _int(1, 168), "gpu_type": TEXT,
                "gpu_num": _int(0), "cpu_num": _int(0), "memory": _int(0),
                "rdma": {"type": "boolean"},
            },
        },
    },
}

JOB_REF = {
    "type": "object",
    "required": ["id", "prjId"],
    "properties": {"id": _int(), "prjId": {"type": "string", "minLength": 1}},
}

LIST = {
    "type": "object",
    "required": ["prjId"],
    "properties": {"start": _int(0), "num": _int(0, 100),
                   "prjId": {"type": "string", "minLength": 1}},
}

LOGS = {
    "type": "object",
    "required": ["id", "prjId"],
    "properties": {"id": _int(), "prjId": {"type": "string", "minLength": 1},
                   "file": {"type": "string", "default": "node-0.log"},
                   "offset": _int(0)},
}

ERROR = {
    "type": "object",
    "required": ["error_code", "error_msg", "log_id"],
    "properties": {"error_code": {"type": "integer"}, "error_msg": {"type": "string"},
                   "log_id": {"type": "integer"}},
}

ITEM = {
    "type": "object",
    "properties": {k: v for k, v in (
        ("id", _int()), ("name", TEXT), ("description", TEXT), ("train_status", TEXT),
        ("run_time", _int()), ("resource_type", TEXT), ("resource_name", TEXT),
        ("framework", TEXT), ("create_time", _int()))},
}


def _result(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [{"type": "object", "required": ["log_id", "result"],
                       "properties": {"log_id": {"type": "integer"}, "result": schema}},
                      {"$ref": "#/components/schemas/Error"}]}


def _call(summary: str, request: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    return {"post": {
        "summary": summary,
        "parameters": [{"name": "access_token", "in": "query", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": request}}},
        "responses": {
            "200": {"description": "The envelope: a result, or an error code (HTTP 200 "
                                   "for both, as the cloud answers)",
                    "content": {"application/json": {"schema": _result(result)}}},
            "404": {"description": "Unknown method",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    }}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "bmlocal training-job API", "version": "1.0",
                 "description": "The cloud's training-job API served locally. Every answer "
                                "with a JSON envelope is HTTP 200; errors carry error_code."},
        "paths": {
            f"{BASE}/create": _call("Create a training job", CREATE, _int(1)),
            f"{BASE}/stop": _call("Stop a job", JOB_REF, {"type": "boolean"}),
            f"{BASE}/delete": _call("Delete an ended job", JOB_REF, {"type": "boolean"}),
            f"{BASE}/list": _call("List a project's jobs, newest first", LIST, {
                "type": "object", "properties": {"total": _int(0),
                                                 "items": {"type": "array", "items": ITEM}}}),
            f"{BASE}/detail": _call("A job's detail", JOB_REF, {"type": "object"}),
            f"{BASE}/logs": _call("bmlocal extension: read a job's log file from an offset",
                                  LOGS, {"type": "object"}),
            "/oauth/2.0/token": {"post": {
                "summary": "Client-credentials token",
                "parameters": [{"name": n, "in": "query", "required": True,
                                "schema": {"type": "string"}}
                               for n in ("grant_type", "client_id", "client_secret")],
                "responses": {"200": {"description": "A token"},
                              "400": {"description": "Unsupported grant type"},
                              "401": {"description": "Unknown client or wrong secret"}},
            }},
            **admin_paths(),
        },
        "components": {"schemas": {"Error": ERROR}},
    }
