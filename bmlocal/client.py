"""A Python client of the training-job API: bmlocal's, or the cloud's (only the URL differs).

    client = Client("http://127.0.0.1:8765", ak="AK", sk="SK")
    job_id = client.create(body)
    final = client.wait(job_id, body["prjId"], timeout=600)

It fetches an access token with AK/SK (or uses the one it is given), fetches a new one and
retries once when a call answers 110/111, reuses its HTTP connections, and raises
`BmlError` (with `error_code`, `error_msg`, `log_id`) for every error answer.
"""
import threading
import time
from typing import Any, Collection, TypedDict

import requests

from bmlocal.transport import Answer, NoAnswer, transport_for

BASE = "/rpc/2.0/easydl/pro/remotetrain"
TOKEN_PATH = "/oauth/2.0/token"
TERMINAL = frozenset({"SUCCESSED", "FAILED", "STOPPED"})
TOKEN_ERRORS = frozenset({110, 111})
REFRESH_MARGIN_SECONDS = 60.0  # a token this close to its end is renewed before a call
REFRESH_MARGIN_SHARE = 0.1  # ... or this share of its life from its end, when that is less


class BmlError(Exception):
    """An error answer of the API, or no answer at all.

    `error_code` is the API's code (406035, 110, ...); None where no envelope came back: a
    dropped connection, a timeout, a token endpoint refusal (then `http_status` says which).
    """

    def __init__(self, error_code: int | None, error_msg: str, log_id: int | None = None,
                 operation: str = "", http_status: int | None = None) -> None:
        self.error_code = error_code
        self.error_msg = error_msg
        self.log_id = log_id
        self.operation = operation
        self.http_status = http_status
        where = f"{operation}: " if operation else ""
        code = f"{error_code} " if error_code is not None else ""
        tail = f" (log_id {log_id})" if log_id is not None else ""
        super().__init__(f"{where}{code}{error_msg}{tail}")


class WaitTimeout(BmlError):
    """`wait` gave up: the job had not reached a wanted status in time."""


class TrainConfig(TypedDict, total=False):
    code_path: str
    start_cmd: str
    output_path: str
    framework: str
    env_type: str
    image: str
    tag: str
    distribute_strategy: str
    repository_id: str
    trainset_path: str
    evalset_path: str
    code_UrlSource: str
    output_UrlSource: str


class ResourceConfig(TypedDict, total=False):
    resource_type: str
    node_count: int
    resource_name: str
    max_duration: int
    gpu_type: str
    gpu_num: int
    cpu_num: Any  # the cloud's detail has it as a string
    memory: int
    rdma: bool


class JobDetail(TypedDict, total=False):
    """`detail`'s result; `status_reason` once the job has ended, `logs` on bmlocal."""
    id: int
    name: str
    description: str
    train_status: str
    run_time: int
    create_time: int
    train_config: TrainConfig
    resource_config: ResourceConfig
    dataset_config: dict[str, str]
    status_reason: str
    logs: list[str]


class JobItem(TypedDict):
    id: int
    name: str
    description: str
    train_status: str
    run_time: int
    resource_type: str
    resource_name: str
    framework: str
    create_time: int


class JobList(TypedDict):
    total: int
    items: list[JobItem]


class LogChunk(TypedDict):
    """`logs`' result (bmlocal's own call): `content` from `offset`-as-sent; `offset` is
    where the next read starts."""
    file: str
    offset: int
    content: str


class Client:
    def __init__(self, url: str, ak: str | None = None, sk: str | None = None,
                 token: str | None = None, timeout: float = 30.0,
                 session: requests.Session | None = None) -> None:
        self.url = url.rstrip("/")
        self.ak = ak
        self.sk = sk
        self.timeout = timeout
        # plain HTTP to this machine: a lighter keep-alive connection; else requests
        self.transport = transport_for(self.url, timeout, session)
        self._token = token
        self._renew_at = float("inf")  # monotonic time; a given token is not renewed early
        self._token_lock = threading.Lock()

    # --- the calls -------------------------------------------------------------------------

    def create(self, body: dict[str, Any]) -> int:
        """The new job's id; `body` is the cloud's create body, `prjId` included."""
        return int(self.call("create", body))

    def detail(self, id: int, prj_id: str) -> JobDetail:
        return self.call("detail", {"id": id, "prjId": prj_id})

    def list(self, prj_id: str, start: int = 0, num: int = 20) -> JobList:
        return self.call("list", {"prjId": prj_id, "start": start, "num": num})

    def stop(self, id: int, prj_id: str) -> bool:
        return bool(self.call("stop", {"id": id, "prjId": prj_id}))

    def delete(self, id: int, prj_id: str) -> bool:
        return bool(self.call("delete", {"id": id, "prjId": prj_id}))

    def logs(self, id: int, prj_id: str, file: str = "node-0.log", offset: int = 0
             ) -> LogChunk:
        """A chunk of one of the job's log files (bmlocal only: the cloud has no such call)."""
        return self.call("logs", {"id": id, "prjId": prj_id, "file": file, "offset": offset})

    def wait(self, id: int, prj_id: str, timeout: float = 3600.0,
             until: Collection[str] | str = TERMINAL, interval: float = 1.0) -> JobDetail:
        """The job's detail once its status is one of `until` (by default: once it has
        ended). Polls quickly at first, then every `interval` seconds; WaitTimeout after
        `timeout` seconds."""
        wanted = {until} if isinstance(until, str) else set(until)
        deadline = time.monotonic() + timeout
        pause = min(0.01, interval)
        while True:
            found = self.detail(id, prj_id)
            if found["train_status"] in wanted:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(None, f"job {id} is {found['train_status']} after "
                                        f"{timeout:g} s, not {'/'.join(sorted(wanted))}",
                                  operation="wait")
            time.sleep(min(pause, left))
            pause = min(pause * 2, interval)

    # --- the envelope ----------------------------------------------------------------------

    def call(self, operation: str, body: dict[str, Any]) -> Any:
        """POST one operation; its `result`. A 110/111 answer fetches a new token (where
        AK/SK are known) and tries once more."""
        payload = self._post(operation, body, self.token())
        if payload.get("error_code") in TOKEN_ERRORS and self.ak is not None:
            payload = self._post(operation, body, self.token(renew=True))
        if "error_code" in payload:
            raise BmlError(int(payload["error_code"]), str(payload.get("error_msg", "")),
                           payload.get("log_id"), operation)
        if "result" not in payload:
            raise BmlError(None, f"answer without result or error_code: {payload!r:.200}",
                           payload.get("log_id"), operation)
        return payload["result"]

    def _post(self, operation: str, body: dict[str, Any], token: str | None) -> dict:
        params = {"access_token": token} if token else {}
        answer = self.send("POST", f"{BASE}/{operation}", operation, params, body)
        try:
            payload = answer.json()
        except ValueError:
            raise BmlError(None, f"HTTP {answer.status}, not a JSON answer: "
                                 f"{answer.body[:200]!r}", operation=operation,
                           http_status=answer.status) from None
        if not isinstance(payload, dict):
            raise BmlError(None, f"HTTP {answer.status}, not a JSON object",
                           operation=operation, http_status=answer.status)
        return payload

    def send(self, method: str, path: str, operation: str, params: dict[str, str],
             body: Any = None) -> Answer:
        """One HTTP request to `url` + `path`; BmlError (error_code None) without answer."""
        try:
            return self.transport.send(method, path, params, body)
        except NoAnswer as exc:
            why = f"within {self.timeout:g} s " if exc.timed_out else ""
            raise BmlError(None, f"no answer {why}from {self.url}: {exc}",
                           operation=operation) from exc

    # --- the token -------------------------------------------------------------------------

    def token(self, renew: bool = False) -> str | None:
        """The access token calls carry: fetched with AK/SK when there is none, when it is
        about to end, or when `renew` is asked; None with neither token nor AK/SK."""
        with self._token_lock:
            stale = time.monotonic() >= self._renew_at
            if self.ak is not None and (self._token is None or stale or renew):
                self._fetch_token()
            return self._token

    def _fetch_token(self) -> None:
        answer = self.send("POST", TOKEN_PATH, "token",
                           {"grant_type": "client_credentials", "client_id": self.ak or "",
                            "client_secret": self.sk or ""})
        try:
            payload = answer.json()
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if answer.status != 200 or "access_token" not in payload:
            reason = payload.get("error_description") or payload.get("error") or \
                answer.body[:200].decode(errors="replace")
            raise BmlError(None, f"token refused (HTTP {answer.status}): {reason}",
                           operation="token", http_status=answer.status)
        self._token = str(payload["access_token"])
        life = payload.get("expires_in")
        self._renew_at = float("inf")
        if isinstance(life, (int, float)) and not isinstance(life, bool):
            margin = min(REFRESH_MARGIN_SECONDS, REFRESH_MARGIN_SHARE * life)
            self._renew_at = time.monotonic() + life - margin

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
