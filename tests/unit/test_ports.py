"""Rendezvous ports (bmlocal/runtime/ports.py): never handed out twice while held, forgotten
oldest first once held long enough or once too many are held, and a busy server neither
runs out of them nor waits for them."""
import socket
import threading
import time

import pytest

from bmlocal.runtime import ports


@pytest.fixture(autouse=True)
def none_held(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_held", ports.OrderedDict())


def test_no_port_is_given_twice_while_held() -> None:
    given = [p for _ in range(200) for p in ports.free_ports(2)]
    assert len(given) == len(set(given)) == 400
    for port in given[-4:]:  # free when given: each can be bound
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_ports_held_long_enough_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "HOLD_SECONDS", 0.2)
    old = ports.free_ports(3)
    time.sleep(0.3)
    new = ports.free_ports(2)
    assert set(ports._held) == set(new) and not set(old) & set(ports._held)


def test_at_most_max_held_are_held_the_newest_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "MAX_HELD", 10)
    given = [ports.free_ports(2) for _ in range(8)]
    assert list(ports._held) == [p for pair in given[-5:] for p in pair]


def test_a_busy_server_gets_ports_for_as_many_jobs_as_it_starts() -> None:
    """20,000 jobs within the hold: before the cap, the held ports covered every port the
    kernel hands out for a bind after some 7,000, and the next call never returned."""
    def start_jobs() -> None:
        for _ in range(20_000):
            assert len(ports.free_ports(2)) == 2

    starting = threading.Thread(target=start_jobs, daemon=True)
    starting.start()
    starting.join(timeout=60)
    assert not starting.is_alive(), "free_ports did not return"
    assert len(ports._held) <= ports.MAX_HELD


def test_a_kernel_that_hands_out_only_held_ports_answers_an_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    held = ports.free_ports(1)[0]
    monkeypatch.setattr(ports, "_bindable_port", lambda: held)
    with pytest.raises(OSError, match="no free TCP port"):
        ports.free_ports(1)
