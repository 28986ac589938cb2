"""Free TCP ports for a job's rendezvous. A port handed out is held (not handed out again)
while its job may still be about to bind it: HOLD_SECONDS, and never more than MAX_HELD
ports, the oldest let go first. Unbounded, the held ports grew with every job: each call
copied them all, and once they covered the ports the kernel hands out for a bind (about
14,000 here, some 7,000 jobs within the hold) the search for a free one never ended."""
import errno
import socket
import threading
import time
from collections import OrderedDict

HOLD_SECONDS = 300.0
MAX_HELD = 4096
MAX_TRIES = 1000

_held: OrderedDict[int, float] = OrderedDict()  # port -> when handed out, oldest first
_lock = threading.Lock()


def free_ports(count: int) -> list[int]:
    with _lock:
        now = time.monotonic()
        while _held and (len(_held) > MAX_HELD - count
                         or now - next(iter(_held.values())) > HOLD_SECONDS):
            _held.popitem(last=False)
        ports: list[int] = []
        tries = 0
        while len(ports) < count:
            if tries == MAX_TRIES:  # the kernel hands out held ports only: the start fails
                raise OSError(errno.EADDRNOTAVAIL, "no free TCP port for the job's rendezvous")
            tries += 1
            port = _bindable_port()
            if port not in _held and port not in ports:
                ports.append(port)
        for port in ports:
            _held[port] = now
        return ports


def _bindable_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
