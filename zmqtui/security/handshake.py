"""Telling a client why it gets no reply: the monitor events of a failed handshake, described."""

from __future__ import annotations

import contextlib
import itertools
import os
import struct

import zmq

HANDSHAKE_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


def describe_handshake_failure(event: int, value: int, *, curve_client: bool) -> str:
    """A message a user can act on for a `HANDSHAKE_FAILED_*` monitor event."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return (
            f"authentication failed: the server refused this client's CURVE key (ZAP status "
            f"{value}); its operator must add our public key to its curve_authorized directory"
        )
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            if curve_client:
                return "security mismatch: this client uses CURVE and the server does not"
            return (
                "security mismatch: the server requires CURVE and this client has no keys "
                "(set ZMQTUI_CURVE_SECRET and ZMQTUI_CURVE_SERVER)"
            )
        return f"ZeroMQ handshake failed: protocol error {value:#x}"
    if curve_client:
        return (
            "CURVE handshake failed: the server does not hold the key this client trusts "
            "(check curve_server, ZMQTUI_CURVE_SERVER)"
        )
    return f"ZeroMQ handshake failed ({os.strerror(value) if value else 'no detail'})"


SOCKET_EVENT_NAMES = {
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "connected",
    zmq.EVENT_CONNECT_RETRIED: "retrying",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "handshake failed",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "handshake failed",
}
"""The monitor events a socket-event timeline shows, and what each is called there (a TCP
connect alone is not shown: "connected" is a finished handshake)."""


def socket_event_words(event: int, value: int, *, curve_client: bool) -> tuple[str, str] | None:
    """What a monitor event is called in a timeline and, for a failed handshake, why in plain
    words; None for an event a timeline leaves out."""
    name = SOCKET_EVENT_NAMES.get(event)
    if name is None or name != "handshake failed":
        return None if name is None else (name, "")
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return name, f"this client's key is not authorised (the server said {value})"
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            return name, "the server's key does not match"
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            if curve_client:
                return name, "this client uses CURVE and the server does not"
            return name, "the server requires CURVE and this client has no keys"
        return name, f"protocol error {value:#x}"
    if curve_client:
        return name, "the server's key does not match"
    return name, os.strerror(value) if value else "no detail"


class HandshakeWatch:
    """Why a client gets no reply: reads its socket's monitor for failed handshakes.

    Create it before `connect` (so no event is missed) and ask `failure()` after waiting in
    vain: a Lazy Pirate client can then say "the server refused our CURVE key" instead of a
    bare timeout. It belongs to the socket's owner; close it before the socket.
    """

    _addresses = itertools.count()

    def __init__(self, sock: zmq.Socket) -> None:
        self._sock = sock
        address = f"inproc://zmqtui-handshake-{os.getpid()}-{next(self._addresses)}"
        sock.monitor(address, HANDSHAKE_EVENTS)
        self._events = sock.context.socket(zmq.PAIR, socket_class=zmq.Socket)
        self._events.setsockopt(zmq.LINGER, 0)
        self._events.connect(address)
        self._failure: str | None = None
        self._failure_is_bare = False
        """The failure came without detail (a reset or broken pipe), so a later one may say more."""
        self._pending: str | None = None
        """Endpoint connected to whose handshake has not finished yet."""

    def failure(self) -> str | None:
        """Why the last handshake failed or stalled, or None if none did (as far as we know)."""
        while True:
            try:
                frames = self._events.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(frames) == 2 and len(frames[0]) == 6:
                event, value = struct.unpack("=HI", frames[0])
                self._observe(event, value, frames[1].decode("utf-8", "replace"))
        if self._failure is None and self._pending is not None:
            return (
                f"connected to {self._pending}, but the handshake never completed: it may not "
                "be a ZeroMQ service, or its CURVE authentication handler is not running"
            )
        return self._failure

    def _observe(self, event: int, value: int, endpoint: str) -> None:
        if event == zmq.EVENT_CONNECTED:
            self._pending = endpoint
        elif event == zmq.EVENT_DISCONNECTED:
            self._pending = None
        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._pending = self._failure = None
        elif event & (
            zmq.EVENT_HANDSHAKE_FAILED_AUTH
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
        ):
            self._pending = None
            bare = event == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            if bare and self._failure is not None and not self._failure_is_bare:
                return  # a server that refused us may also just drop a retry: keep its reason
            curve_client = (
                not self._sock.closed and self._sock.getsockopt(zmq.MECHANISM) == zmq.CURVE
            )
            self._failure = describe_handshake_failure(event, value, curve_client=curve_client)
            self._failure_is_bare = bare

    def close(self) -> None:
        """Stop watching; call before closing the socket."""
        if not self._sock.closed:
            with contextlib.suppress(zmq.ZMQError):
                self._sock.disable_monitor()
        self._events.close(linger=0)

    def __enter__(self) -> HandshakeWatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
