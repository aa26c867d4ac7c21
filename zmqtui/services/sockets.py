"""Socket set-up every service shares: linger, size limits, and binds that fail clearly.

A second `ipc://` bind on a path that another process serves silently steals the endpoint, so
`bind` probes the path first. A non-loopback bind needs CURVE keys or `public=True`: exposing
a service beyond this machine is the user's explicit choice. With a CURVE profile active
(`zmqtui.security`), every TCP bind is a CURVE server and every TCP connect a CURVE client.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import socket
import stat
import time
from collections.abc import Iterator, Sequence

import zmq
import zmq.asyncio

from zmqtui import security
from zmqtui.config import ConfigError, check_endpoint, is_loopback
from zmqtui.protocol import MAX_MESSAGE_BYTES
from zmqtui.security import CurveProfile


class EndpointError(RuntimeError):
    """An endpoint that cannot be bound or connected, with a message fit for the user."""


def configure(sock: zmq.Socket, *, max_message_bytes: int | None = MAX_MESSAGE_BYTES) -> None:
    """Linger 0 (never hang on close) and an inbound size limit (oversized peers are dropped)."""
    sock.setsockopt(zmq.LINGER, 0)
    if max_message_bytes is not None:
        sock.setsockopt(zmq.MAXMSGSIZE, max_message_bytes)


def bind(
    sock: zmq.Socket, endpoint: str, *, public: bool = False, curve: CurveProfile | bool = True
) -> str:
    """Bind and return the endpoint actually bound (a `:0`/`:*` port resolved).

    `curve`: True serves TCP over CURVE when a profile is active, False never, or a profile.
    """
    _check(endpoint)
    profile = security.resolve_profile(curve) if security.covers(endpoint) else None
    if not public and profile is None and not is_loopback(endpoint):
        raise EndpointError(
            f"refusing to bind {endpoint}: it is not a loopback address. To expose a service "
            "beyond this machine, set up CURVE keys (`zmqtui keygen`, then ZMQTUI_CURVE_SECRET "
            "and ZMQTUI_CURVE_AUTHORIZED), or pass --insecure to expose it unencrypted"
        )
    if profile is not None:
        security.make_curve_server(sock, profile)
    if endpoint.startswith("ipc://"):
        _claim_ipc_path(endpoint.removeprefix("ipc://"))
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise EndpointError(f"{endpoint} is already in use by another process") from None
        raise EndpointError(f"cannot bind {endpoint}: {exc.strerror}") from None
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


def connect(sock: zmq.Socket, endpoint: str, *, curve: CurveProfile | bool = True) -> None:
    """Connect, turning ZeroMQ's terse errors into ones a user can act on.

    `curve`: True connects to TCP as a CURVE client when a profile is active, False never, or
    a profile. `security.HandshakeWatch` tells why a secured connection gets no reply.
    """
    _check(endpoint)
    profile = security.resolve_profile(curve) if security.covers(endpoint) else None
    if profile is not None:
        security.make_curve_client(sock, profile)
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as exc:
        raise EndpointError(f"cannot connect to {endpoint}: {exc.strerror}") from None


def _check(endpoint: str) -> None:
    """Refuse an endpoint ZeroMQ would misread (a TCP port past 65535 wraps around)."""
    try:
        check_endpoint(endpoint)
    except ConfigError as exc:
        raise EndpointError(str(exc)) from None


def _claim_ipc_path(path: str) -> None:
    """Refuse a path someone is listening on, or that is not a socket; remove a socket file left
    behind by a dead process."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise EndpointError(f"cannot bind ipc://{path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise EndpointError(f"cannot bind ipc://{path}: a file that is not a socket is in the way")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(0.5)
        probe.connect(path)
    except OSError:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    finally:
        probe.close()
    raise EndpointError(f"ipc://{path} is already in use by another process")


def ipc_path(endpoint: str) -> str | None:
    """The file behind an `ipc://` endpoint, or None for other transports."""
    return endpoint.removeprefix("ipc://") if endpoint.startswith("ipc://") else None


def remove_ipc_file(endpoint: str) -> None:
    """Remove the file of an `ipc://` endpoint this process bound, just before closing it.

    libzmq leaves the file behind on close. Removing it while the socket is still open is safe:
    until then nobody else can bind the path (`bind` refuses a path in use).
    """
    path = ipc_path(endpoint)
    if path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE) | _NOBLOCK
_recv = zmq.backend.Socket.recv
_send = zmq.backend.Socket.send


def recv_nowait(sock: zmq.Socket) -> list[bytes]:
    """`sock.recv_multipart(zmq.NOBLOCK)` for the hot loops of threads owning plain (not
    asyncio) sockets; raises `zmq.Again` when nothing waits.

    About a third cheaper on small frames: pyzmq's RCVMORE lookup costs more than receiving a
    frame, whose own `more` flag is free.
    """
    frame = _recv(sock, _NOBLOCK, False)
    frames = [frame.bytes]
    while frame.more:
        frame = _recv(sock, _NOBLOCK, False)
        frames.append(frame.bytes)
    return frames


def recv_routed(sock: zmq.Socket, flags: int = 0) -> list[bytes]:
    """The next message on a ROUTER, whose messages always have a frame after the routing id:
    the id is taken as bytes at once, without the frame object its `more` flag needs. `flags`
    apply to the first receive (`zmq.NOBLOCK`: raise `zmq.Again` when nothing waits); the
    rest of a message arrives with its first frame."""
    frames = [_recv(sock, flags, True)]
    frame = _recv(sock, _NOBLOCK, False)
    frames.append(frame.bytes)
    while frame.more:
        frame = _recv(sock, _NOBLOCK, False)
        frames.append(frame.bytes)
    return frames


def plain_view(sock: zmq.asyncio.Socket) -> zmq.Socket:
    """A plain view of an asyncio socket, for draining what is already queued: several times
    faster than awaiting a future per message (pyzmq's own DONTWAIT path does the same)."""
    return zmq.Socket.shadow(sock.underlying)


def queued_messages(
    view: zmq.Socket, limit: int, deadline: float = math.inf
) -> Iterator[list[bytes]]:
    """The messages already waiting on `view` (see `plain_view`), without waiting for more:
    at most `limit`, and none once `time.perf_counter()` passes `deadline`."""
    for _ in range(limit):
        if time.perf_counter() >= deadline:
            return
        try:
            yield recv_nowait(view)
        except zmq.Again:
            return


def send_nowait(sock: zmq.Socket, frames: Sequence[bytes]) -> None:
    """`sock.send_multipart(frames, zmq.NOBLOCK)` for the same loops: int flags, no checks.

    All or nothing, as libzmq queues a message's parts together: `zmq.Again`, or EHOSTUNREACH
    from a ROUTER_MANDATORY socket, comes from the first part.
    """
    for frame in frames[:-1]:
        _send(sock, frame, _MORE_NOBLOCK)
    _send(sock, frames[-1], _NOBLOCK)


GIVEN_UP_AFTER_S = 1.5
"""A disconnection with no reconnection attempt within this long was a session libzmq ended
for good (it retries a lost peer every 100 ms)."""

WATCHED_EVENTS = (
    zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CONNECT_DELAYED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_CONNECTED
)
"""What a `SessionWatch` needs from a socket monitor."""

STATE_EVENTS = (
    WATCHED_EVENTS
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
"""What a monitor watches to tell a connection's state (`CONNECTION_STATES`) and to feed a
`SessionWatch`."""

CONNECTION_STATES = {
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "connected",
    zmq.EVENT_CONNECT_RETRIED: "retrying",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "failed",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "failed",
}
"""The connection state a monitor event means, for the events that change it."""


class SessionWatch:
    """Notices a connection libzmq ended and will not make again.

    A message over `MAXMSGSIZE` ends a session for good: the socket monitor says
    `EVENT_DISCONNECTED` and nothing follows, where a peer that went away is retried at once.
    Feed `saw` every monitor event; `given_up` says (once) when the socket must connect again.
    """

    def __init__(self, patience_s: float = GIVEN_UP_AFTER_S) -> None:
        self.patience_s = patience_s
        self._since: float | None = None

    def saw(self, event: int) -> None:
        if event == zmq.EVENT_DISCONNECTED:
            self._since = time.monotonic()
        elif event & (zmq.EVENT_CONNECT_DELAYED | zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_CONNECTED):
            self._since = None

    def given_up(self) -> bool:
        if self._since is None or time.monotonic() - self._since < self.patience_s:
            return False
        self._since = None
        return True


def reconnect(sock: zmq.Socket, endpoint: str) -> None:
    """Connect `sock` to `endpoint` again, after libzmq gave the connection up."""
    with contextlib.suppress(zmq.ZMQError):
        sock.disconnect(endpoint)
    connect(sock, endpoint)


def given_up_text(endpoint: str, max_message_bytes: int) -> str:
    """What to tell the user when a `SessionWatch` says the connection was given up."""
    return (
        f"{endpoint} ended the connection and libzmq gave it up (a message over "
        f"{max_message_bytes:,} bytes does that): connecting again"
    )
