"""A client of bmlocal's admin calls (/bmlocal/admin/...), raising BmlError like the API's."""
from typing import Any

from bmlocal.client import BmlError, Client

ADMIN = "/bmlocal/admin"


class Admin:
    """Faults, the record of calls, jobs driven by hand, simulate rules and reset. It shares
    `client`'s connections and token (a key with projects "*" where credentials are set)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None,
              **params: str) -> Any:
        token = self.client.token()
        if token:
            params["access_token"] = token
        answer = self.client.send(method, f"{ADMIN}{path}", f"admin {path}", params, body)
        try:
            payload = answer.json()
        except ValueError:
            raise BmlError(None, f"HTTP {answer.status}, not JSON", operation=path,
                           http_status=answer.status) from None
        if isinstance(payload, dict) and "error_code" in payload:
            raise BmlError(payload["error_code"], payload.get("error_msg", ""),
                           payload.get("log_id"), f"admin {path}", answer.status)
        return payload

    # --- the record of calls -------------------------------------------------------------

    def calls(self, operation: str | None = None) -> list[dict[str, Any]]:
        """Calls received, oldest first: operation, body (secrets ***), answer, http_status,
        time, fault."""
        params = {"operation": operation} if operation else {}
        return self._send("GET", "/calls", **params)["calls"]

    def clear_calls(self) -> None:
        self._send("DELETE", "/calls")

    # --- faults ----------------------------------------------------------------------------

    def fail_next(self, operation: str, error_code: int, times: int = 1,
                  error_msg: str | None = None, delay_seconds: float = 0.0) -> None:
        """The next `times` calls of `operation` answer `error_code` (nothing else is done)."""
        self.fault(operation, error_code=error_code, times=times, error_msg=error_msg,
                   delay_seconds=delay_seconds)

    def delay_next(self, operation: str, seconds: float, times: int = 1) -> None:
        self.fault(operation, delay_seconds=seconds, times=times)

    def drop_next(self, operation: str, times: int = 1) -> None:
        """The next `times` calls of `operation` get no answer: the connection is closed."""
        self.fault(operation, drop=True, times=times)

    def fault(self, operation: str, **fields: Any) -> None:
        body = {"operation": operation, **{k: v for k, v in fields.items() if v is not None}}
        if not body.get("delay_seconds"):
            body.pop("delay_seconds", None)
        self._send("POST", "/faults", body)

    def faults(self) -> list[dict[str, Any]]:
        return self._send("GET", "/faults")["armed"]

    def clear_faults(self) -> None:
        self._send("DELETE", "/faults")

    # --- jobs by hand ----------------------------------------------------------------------

    def advance(self, id: int, status: str, reason: str | None = None) -> dict[str, Any]:
        """Move a job to `status` (as the transition table allows); answers once the job
        shows it: {"id", "train_status", "status_reason"}."""
        body = {"status": status, **({"reason": reason} if reason is not None else {})}
        return self._send("POST", f"/jobs/{id}/advance", body)

    def fail(self, id: int, reason: str | None = None) -> dict[str, Any]:
        return self._send("POST", f"/jobs/{id}/fail",
                          {"reason": reason} if reason is not None else {})

    def release(self, id: int) -> dict[str, Any]:
        """End a job's simulated PENDING time now: it becomes RUNNING."""
        return self._send("POST", f"/jobs/{id}/release")

    def hold(self, on: bool = True) -> None:
        """Simulated jobs started from now on stay RUNNING until advanced (or reset)."""
        self._send("POST", "/hold", {"on": on})

    def rule(self, **fields: Any) -> None:
        """Add a simulate rule (the `[[simulate.rules]]` fields) before the others, until
        the next reset."""
        self._send("POST", "/rules", fields)

    def rules(self) -> list[dict[str, Any]]:
        return self._send("GET", "/rules")["rules"]

    def reset(self) -> dict[str, Any]:
        """Empty jobs, the record of calls, faults, added rules and hold."""
        return self._send("POST", "/reset")
