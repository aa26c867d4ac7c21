"""Can a worker reach its broker? A readiness probe's answer, from a handshake and nothing more.

`zmqtui worker --check` connects what a worker would (the backend and the heartbeat endpoint,
as a CURVE client when keys are set), waits for both handshakes and closes: nothing is sent,
so the broker never learns of the probe.
"""

from __future__ import annotations

import time

import zmq
from zmq.utils.monitor import recv_monitor_message

from zmqtui import security
from zmqtui.services import sockets

_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
)


def probe_broker(backend: str, heartbeat: str, timeout_s: float) -> str | None:
    """None when the backend and the heartbeat endpoint both complete a handshake within
    `timeout_s`; otherwise why the first that did not failed."""
    ctx = zmq.Context()
    try:
        probes = []
        for role, endpoint, kind in (
            ("backend", backend, zmq.DEALER),
            ("heartbeat endpoint", heartbeat, zmq.PUSH),
        ):
            sock = ctx.socket(kind)
            sockets.configure(sock)
            monitor = sock.get_monitor_socket(_EVENTS)
            sockets.connect(sock, endpoint)
            probes.append((role, endpoint, sock, monitor))
        deadline = time.monotonic() + timeout_s
        for role, endpoint, sock, monitor in probes:
            failure = _wait_for_handshake(sock, monitor, deadline)
            if failure is not None:
                return f"{role} {endpoint}: {failure}"
        return None
    finally:
        ctx.destroy(linger=0)


def _wait_for_handshake(sock: zmq.Socket, monitor: zmq.Socket, deadline: float) -> str | None:
    while (left := deadline - time.monotonic()) > 0:
        if not monitor.poll(max(1, int(left * 1000))):
            break
        message = recv_monitor_message(monitor)
        event = message["event"]
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            return None
        curve = sock.getsockopt(zmq.MECHANISM) == zmq.CURVE
        return security.describe_handshake_failure(event, message["value"], curve_client=curve)
    return "no handshake in time (nothing listens there, or the network drops the traffic)"
