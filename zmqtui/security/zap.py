"""The ZAP handler: answers libzmq's authentication requests (RFC 27) for CURVE servers."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

import zmq
from zmq.utils import z85

from zmqtui.config import ConfigError

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
"""Where libzmq sends a Context's authentication requests (RFC 27)."""
ZAP_VERSION = b"1.0"
LOGGED_REFUSALS = 20
"""Refused clients logged one by one; later ones are only counted (`ZapHandler.refused`)."""


def _zap_reply(request_id: bytes, status: bytes, text: bytes, user: bytes = b"") -> list[bytes]:
    return [ZAP_VERSION, request_id, status, text, user, b""]


class ZapHandler:
    """Answers the ZAP requests of one Context on a thread of its own (`zmq.auth` protocol).

    Only CURVE clients whose public key is authorized for the server socket's ZAP domain get
    in; every other request, from an unknown domain or another mechanism, is refused. Unlike
    `zmq.auth.thread.ThreadAuthenticator`, its socket is not tracked by the Context, so a
    service's `ctx.destroy()` never closes it from the wrong thread: terminating the Context
    wakes the thread, which closes the socket and ends.
    """

    STOP_POLL_MS = 200
    """How often the thread looks whether `stop` was called."""

    def __init__(self, ctx: zmq.Context) -> None:
        self._ctx = ctx
        self._domains: dict[bytes, Callable[[], frozenset[bytes]]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.admitted = 0
        self.refused = 0

    def authorize(self, domain: bytes, keys: Callable[[], frozenset[bytes]]) -> None:
        """Admit, on sockets of `domain`, the CURVE clients whose Z85 key is in `keys()`."""
        self._domains[domain] = keys

    def start(self) -> None:
        """Bind the Context's ZAP endpoint and answer on a daemon thread."""
        sock = zmq.Socket(self._ctx, zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.bind(ZAP_ENDPOINT)
        except zmq.ZMQError as exc:
            sock.close()
            raise ConfigError(
                f"cannot start the CURVE authentication handler: {exc.strerror} "
                "(is another ZAP handler running on this Context?)"
            ) from None
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name="zmqtui-zap", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop answering; from then on libzmq refuses every client of our server sockets."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def _serve(self, sock: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        try:
            while not self._stopping.is_set():
                if poller.poll(self.STOP_POLL_MS):
                    sock.send_multipart(self.answer(sock.recv_multipart()))
        except zmq.ContextTerminated:
            pass
        finally:
            # unbind is immediate, close is not: no handshake may reach a handler that is going
            with contextlib.suppress(zmq.ZMQError):
                sock.unbind(ZAP_ENDPOINT)
            sock.close(linger=0)

    def answer(self, request: list[bytes]) -> list[bytes]:
        """The ZAP reply to one request: 200 for an authorized CURVE key, otherwise 400/500."""
        if len(request) < 6 or request[0] != ZAP_VERSION:
            request_id = request[1] if len(request) > 1 else b""
            return _zap_reply(request_id, b"500", b"malformed ZAP request")
        _version, request_id, domain, address, _identity, mechanism, *credentials = request
        keys = self._domains.get(domain)
        if keys is None:
            return _zap_reply(request_id, b"400", b"unknown ZAP domain")
        if mechanism != b"CURVE" or len(credentials) != 1 or len(credentials[0]) != 32:
            return _zap_reply(request_id, b"400", b"CURVE required")
        client_key = z85.encode(credentials[0])
        try:
            admitted = client_key in keys()
        except OSError as exc:
            log.error("refusing CURVE clients: cannot read the authorized keys: %s", exc)
            return _zap_reply(request_id, b"500", b"cannot read the authorized keys")
        if admitted:
            self.admitted += 1
            return _zap_reply(request_id, b"200", b"OK", client_key)
        self.refused += 1
        if self.refused <= LOGGED_REFUSALS:
            log.warning(
                "refused a CURVE client from %s: its key %s is not authorized%s",
                address.decode("utf-8", "replace"),
                client_key.decode("ascii"),
                " (further refusals are only counted)" if self.refused == LOGGED_REFUSALS else "",
            )
        return _zap_reply(request_id, b"400", b"unknown client key")


_handlers: dict[int, ZapHandler] = {}
_handlers_lock = threading.Lock()


def zap_handler(ctx: zmq.Context) -> ZapHandler:
    """The running ZAP handler of `ctx`'s libzmq context (shared by its shadows), started on
    first use and again after it stopped."""
    with _handlers_lock:
        for key in [key for key, handler in _handlers.items() if not handler.running]:
            del _handlers[key]
        handler = _handlers.get(ctx.underlying)
        if handler is None:
            handler = ZapHandler(ctx)
            handler.start()
            _handlers[ctx.underlying] = handler
        return handler
