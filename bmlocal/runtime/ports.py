"""Free TCP ports for a job's rendezvous, never handed out twice by this server."""
import socket
import threading
import time

_recent: dict[int, float] = {}
_lock = threading.Lock()
HOLD_SECONDS = 300.0


def free_ports(count: int) -> list[int]:
    with _lock:
        now = time.monotonic()
        for port, given in list(_recent.items()):  # oldest first: a port is never given again
            if now - given <= HOLD_SECONDS:
                break
            del _recent[port]
        ports: list[int] = []
        while len(ports) < count:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _recent and port not in ports:
                ports.append(port)
        for port in ports:
            _recent[port] = now
        return ports
