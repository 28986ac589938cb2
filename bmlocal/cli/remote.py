"""bmlocal's own routes beside the cloud API, spoken with the client's session and token:
the followed log stream (server-sent events, resumed from the last offset after a dropped
connection or a server restart) and the ops JSON (pools, a job's history)."""
import json
import time
from dataclasses import dataclass
from typing import Any, Iterator

import requests

from bmlocal.client import BmlError, Client

STREAM = "/stream/v1/logs"
RETRY_FIRST, RETRY_MAX = 0.2, 2.0  # pause between reconnections


@dataclass(frozen=True)
class Event:
    kind: str  # log, status, end, error
    data: dict[str, Any]


def get_json(client: Client, path: str, params: dict[str, Any], operation: str) -> Any:
    """GET one of bmlocal's JSON routes; its result, or BmlError with the envelope's code."""
    for attempt in (0, 1):
        token = client.token(renew=attempt == 1)
        query = {**{k: str(v) for k, v in params.items()},
                 **({"access_token": token} if token else {})}
        answer = client.send("GET", path, operation, query)
        try:
            payload = answer.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise BmlError(None, f"HTTP {answer.status}: this server has no {path} "
                                 "(not a bmlocal server?)", operation=operation,
                           http_status=answer.status)
        code = payload.get("error_code")
        if code in (110, 111) and attempt == 0 and client.ak is not None:
            continue
        if code is not None:
            raise BmlError(int(code), str(payload.get("error_msg", "")),
                           payload.get("log_id"), operation)
        return payload["result"]
    raise AssertionError("unreachable")


def parse_events(lines: Iterator[str]) -> Iterator[Event]:
    kind, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield Event(kind, json.loads("\n".join(data)))
            kind, data = "message", []
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))


def follow_log(client: Client, job_id: int, project: str, file: str, offset: int = 0,
               give_up_after: float = 120.0) -> Iterator[Event]:
    """The events of one log file until the job ends (an `end` event) or the job is gone
    (an `error` event). A dropped connection is reopened from the last offset; BmlError
    after `give_up_after` seconds without a server."""
    failing_since: float | None = None
    pause = RETRY_FIRST
    while True:
        try:
            for event in _stream(client, job_id, project, file, offset):
                failing_since, pause = None, RETRY_FIRST
                if event.kind == "log":
                    offset = int(event.data["offset"])
                yield event
                if event.kind in ("end", "error"):
                    return
        except (requests.RequestException, BmlError) as exc:
            if isinstance(exc, BmlError) and (exc.error_code is not None or exc.http_status):
                raise  # an answer, not a missing server
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > give_up_after:
                raise BmlError(None, f"the server at {client.url} did not answer for "
                                     f"{give_up_after:g} s", operation="logs") from None
        time.sleep(pause)
        pause = min(pause * 2, RETRY_MAX)


def _stream(client: Client, job_id: int, project: str, file: str, offset: int
            ) -> Iterator[Event]:
    """One connection of the stream (its own: the client's transport reads whole answers)."""
    token = client.token()
    params = {"id": job_id, "prjId": project, "file": file, "offset": offset,
              **({"access_token": token} if token else {})}
    with requests.get(f"{client.url}{STREAM}", params=params, stream=True,
                      timeout=(client.timeout, 60)) as answer:
        if answer.headers.get("Content-Type", "").startswith("application/json"):
            payload = answer.json()
            if payload.get("error_code") in (110, 111) and client.ak is not None:
                client.token(renew=True)
                raise requests.ConnectionError("token renewed")
            raise BmlError(int(payload["error_code"]), str(payload.get("error_msg", "")),
                           payload.get("log_id"), "logs")
        if answer.status_code != 200:
            raise BmlError(None, f"HTTP {answer.status_code}: this server has no {STREAM}",
                           operation="logs", http_status=answer.status_code)
        # chunk_size: what arrived so far, up to 64 KiB (a chunked answer is not waited on)
        yield from parse_events(answer.iter_lines(chunk_size=1 << 16, decode_unicode=True))
