"""Rendezvous ports (bmlocal/runtime/ports.py): never handed out twice while held, and
forgotten, oldest first, once held long enough."""
import socket
import time

import pytest

from bmlocal.runtime import ports


def test_no_port_is_given_twice_while_held() -> None:
    given = [p for _ in range(200) for p in ports.free_ports(2)]
    assert len(given) == len(set(given)) == 400
    for port in given[-4:]:  # free when given: each can be bound
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_ports_held_long_enough_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "HOLD_SECONDS", 0.2)
    monkeypatch.setattr(ports, "_recent", {})
    old = ports.free_ports(3)
    time.sleep(0.3)
    new = ports.free_ports(2)
    assert set(ports._recent) == set(new) and not set(old) & set(ports._recent)
