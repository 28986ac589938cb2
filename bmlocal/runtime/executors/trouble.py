"""What a running job's detail says when its nodes cannot be watched (an engine that does
not answer), and the end reason of a job whose nodes could not be reached."""
from typing import Iterable

from bmlocal.runtime.executors.base import NODE_UNREACHABLE, UNREACHABLE_NOTE, Handle
from bmlocal.runtime.executors.select import Executors

Node = tuple[int, Handle, int | None]  # rank, handle, exit code (None while it runs)


def node_trouble(executors: Executors, nodes: Iterable[Node]) -> str:
    """The first trouble an executor reports about a node still running, or ""."""
    for _, handle, code in nodes:
        if code is None:
            trouble = getattr(executors.for_handle(handle), "trouble", None)
            said = trouble(handle) if trouble is not None else ""
            if said:
                return said
    return ""


def end_reason(reason: str, nodes: Iterable[Node]) -> str:
    """`reason`, and why the end was not seen, where a node was killed out of reach."""
    if any(code == NODE_UNREACHABLE for _, _, code in nodes):
        return f"{reason}; {UNREACHABLE_NOTE}" if reason else UNREACHABLE_NOTE
    return reason
