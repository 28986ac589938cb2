"""The admin calls in /openapi.json: bmlocal's own, for test suites in any language."""
import functools
from typing import Any

from bmlocal.api.faults import Fault
from bmlocal.runtime.executors.simulate_rules import Rule

ADMIN = "/bmlocal/admin"
ERROR = {"$ref": "#/components/schemas/Error"}
TAG = ["bmlocal admin (test double)"]


def _op(method: str, summary: str, body: dict[str, Any] | None = None,
        job: bool = False) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": TAG, "summary": summary,
        "parameters": [{"name": "access_token", "in": "query", "required": False,
                        "schema": {"type": "string"},
                        "description": "needed where credentials are configured: a key "
                                       "with projects \"*\" (or the job's project)"}],
        "responses": {
            "200": {"description": "Done", "content": {"application/json": {
                "schema": {"type": "object"}}}},
            "400": {"description": "A field is wrong (406001, named in error_msg)",
                    "content": {"application/json": {"schema": ERROR}}},
            "401": {"description": "Token missing or expired (110/111)"},
            "403": {"description": "The key may not (406037)"},
            "404": {"description": "No such job (406012)"},
            "409": {"description": "The transition table forbids it (406027)"},
        }}
    if job:
        operation["parameters"].append({"name": "id", "in": "path", "required": True,
                                        "schema": {"type": "integer"}})
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": body}}}
    return {method: operation}


ADVANCE = {"type": "object", "required": ["status"], "additionalProperties": False,
           "properties": {"status": {"type": "string", "enum": [
               "RUNNING", "SUCCESSED", "FAILED", "STOPPED"]}, "reason": {"type": "string"}}}


def openapi30(schema: Any) -> Any:
    """A pydantic (JSON Schema 2020-12) schema in OpenAPI 3.0's dialect: `nullable` for
    `anyOf [X, null]`, boolean `exclusiveMinimum`."""
    if isinstance(schema, list):
        return [openapi30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: openapi30(v) for k, v in schema.items()}
    options = out.pop("anyOf", None)
    if options is not None:
        others = [o for o in options if o != {"type": "null"}]
        if len(others) == 1:
            out = {**others[0], **out, "nullable": True}
        else:
            out["anyOf"] = others
    if isinstance(out.get("exclusiveMinimum"), (int, float)) and \
            not isinstance(out["exclusiveMinimum"], bool):
        out["minimum"], out["exclusiveMinimum"] = out["exclusiveMinimum"], True
    return out


@functools.cache
def admin_paths() -> dict[str, Any]:
    return {
        f"{ADMIN}/jobs/{{id}}/advance": _op(
            "post", "Move a job to a status, as the transition table allows (RUNNING: "
            "ends its simulated PENDING time); answers once the job shows it", ADVANCE, True),
        f"{ADMIN}/jobs/{{id}}/fail": _op("post", "Fail a job (PENDING or RUNNING) with a "
                                         "reason", {"type": "object", "properties": {
                                             "reason": {"type": "string"}}}, True),
        f"{ADMIN}/jobs/{{id}}/release": _op("post", "End a job's simulated PENDING time",
                                            job=True),
        f"{ADMIN}/faults": {
            **_op("post", "Arm a fault: the next `times` calls of `operation` answer "
                  "`error_code`, wait `delay_seconds`, or lose their connection (`drop`)",
                  openapi30(Fault.model_json_schema())),
            **_op("get", "The armed faults"), **_op("delete", "Disarm every fault")},
        f"{ADMIN}/calls": {
            **_op("get", "The calls received, oldest first (query `operation` filters): "
                  "operation, body and answer with secrets as ***, http_status, time, fault"),
            **_op("delete", "Forget the calls received")},
        f"{ADMIN}/hold": _op("post", "Simulated jobs started from now on stay RUNNING until "
                             "advanced (until reset)", {"type": "object", "properties": {
                                 "on": {"type": "boolean", "default": True}}}),
        f"{ADMIN}/rules": {
            **_op("post", "Add a simulate rule before the configured ones (until reset)",
                  openapi30(Rule.model_json_schema())),
            **_op("get", "The simulate rules, added ones first")},
        f"{ADMIN}/reset": _op("post", "Forget every job (real ones are killed), the calls, "
                              "faults, added rules and hold, in milliseconds"),
    }
