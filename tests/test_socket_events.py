"""The socket-events timeline: bounded, a socket's repeated event counted on one line."""

from __future__ import annotations

from zmqtui.socket_events import SocketEvent, SocketEventLog

EP = "tcp://127.0.0.1:60401"


def event(at: float, socket: str, name: str, detail: str = "") -> SocketEvent:
    return SocketEvent(at, socket, EP, name, detail)


def test_repeats_of_a_socket_s_latest_event_are_counted_on_its_line() -> None:
    log = SocketEventLog()
    for at, socket, name in [
        (1, "req", "retrying"),
        (2, "stats", "retrying"),
        (3, "req", "retrying"),
        (4, "stats", "retrying"),
        (5, "req", "connected"),
        (6, "req", "retrying"),
    ]:
        log.add(event(at, socket, name))
    assert [(e.socket, e.event, e.time_ms, e.repeats, e.last_ms) for e in log] == [
        ("req", "retrying", 1, 2, 3),
        ("stats", "retrying", 2, 2, 4),
        ("req", "connected", 5, 1, None),
        ("req", "retrying", 6, 1, None),
    ]
    assert log.generation == 6


def test_another_reason_starts_a_line_and_the_log_is_bounded() -> None:
    log = SocketEventLog(capacity=3)
    log.add(event(1, "req", "handshake failed", "the server's key does not match"))
    log.add(event(2, "req", "handshake failed", "this client's key is not authorised"))
    assert len(log) == 2
    for at in range(3, 10):
        log.add(event(at, f"s{at}", "connected"))
    assert [e.socket for e in log] == ["s7", "s8", "s9"]


def test_an_event_told_late_takes_its_place_in_time() -> None:
    log = SocketEventLog()
    for at, socket in [(10, "req"), (12, "stats"), (11, "tap"), (5, "sub")]:
        log.add(event(at, socket, "connecting"))
    assert [e.socket for e in log] == ["sub", "req", "tap", "stats"]
