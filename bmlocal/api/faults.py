"""Faults on demand: the next N calls of an operation answer an error code, take a delay, or
lose their connection, so that a suite can test its client's retries and error handling."""
import socket
import threading
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

OPERATIONS = ("create", "stop", "delete", "list", "detail", "logs", "token")


class Fault(BaseModel):
    """One armed fault, as the admin API takes it."""
    model_config = ConfigDict(extra="forbid", strict=True)

    operation: Literal["create", "stop", "delete", "list", "detail", "logs", "token"]
    error_code: Annotated[int, Field(gt=0)] | None = None
    error_msg: Annotated[str, Field(min_length=1, max_length=1000)] | None = None
    delay_seconds: Annotated[float, Field(ge=0, le=600)] = 0.0
    drop: bool = False
    times: Annotated[int, Field(ge=1, le=1_000_000)] = 1

    @model_validator(mode="after")
    def _one_effect(self) -> "Fault":
        if self.error_code is not None and self.drop:
            raise ValueError("error_code and drop exclude each other: a dropped connection "
                             "answers nothing")
        if self.error_code is None and not self.drop and not self.delay_seconds:
            raise ValueError("give error_code, delay_seconds or drop")
        if self.error_code is not None and self.operation == "token":
            raise ValueError("the token endpoint answers no error_code: use delay_seconds "
                             "or drop for operation token")
        if self.error_msg is not None and self.error_code is None:
            raise ValueError("error_msg goes with error_code")
        return self

    def effect(self) -> str:
        parts = [f"delay {self.delay_seconds:g} s"] if self.delay_seconds else []
        if self.error_code is not None:
            parts.append(f"error_code {self.error_code}")
        if self.drop:
            parts.append("connection dropped")
        return ", ".join(parts)


class Faults:
    def __init__(self) -> None:
        self._armed: list[Fault] = []  # in the order armed; each used `times` times
        self._lock = threading.Lock()

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._armed.append(fault)

    def take(self, operation: str) -> Fault | None:
        """The fault this call of `operation` meets, if any (one of its `times` used)."""
        if not self._armed:  # the usual case, read without the lock at every call
            return None
        with self._lock:
            for i, fault in enumerate(self._armed):
                if fault.operation == operation:
                    if fault.times > 1:
                        self._armed[i] = fault.model_copy(update={"times": fault.times - 1})
                    else:
                        del self._armed[i]
                    return fault
        return None

    def armed(self) -> list[dict]:
        with self._lock:
            return [f.model_dump() for f in self._armed]

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()


def drop_connection(environ: dict[str, Any]) -> bool:
    """Shut the request's socket, so that the client gets no answer at all; False where the
    server is not waitress (bmlocal's own), whose channel is reachable from the request."""
    check = environ.get("waitress.client_disconnected")
    sock = getattr(getattr(check, "__self__", None), "socket", None)
    if not isinstance(sock, socket.socket):
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    return True
