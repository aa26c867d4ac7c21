"""Request and reply as the book's REQ and REP sockets do it, made robust on both sides.

The server side is a ROUTER that answers like a REP (the filer, the control endpoint): it
keeps each request's envelope (every frame up to the first empty one) and sends it back before
the reply, so REQ and DEALER clients see a REP. A REP socket cannot be used: libzmq's loses the
next reply it sends, whoever it is for, after reading a request without envelope from a peer it
can no longer write to, so one hostile connection could silence the others. A message without
envelope has no one to answer.

The client side is a Lazy Pirate (the requester, `zmqtui ctl`): a REQ socket that missed a
reply is stuck, so each try waits at most `timeout_ms`; then the socket is closed with linger
0, a fresh one connects and the request goes again, up to `tries` times.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import zmq
import zmq.asyncio

from zmqtui.security import HandshakeWatch
from zmqtui.services import sockets

T = TypeVar("T")


def envelope_end(frames: list[bytes]) -> int | None:
    """Where the body of a request a ROUTER received starts: just past the empty frame that
    ends its envelope. None for a message without envelope, which has no one to answer."""
    try:
        return frames.index(b"", 1) + 1
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Exchange(Generic[T]):
    """How one request went: what the reply was taken as, or why there was none."""

    taken: T | None
    """What `take` made of the reply; None when no reply came after every try."""
    tries: int
    discarded: int = 0
    """Replies `take` turned down (another request's answer); the request went again."""
    why: str | None = None
    """Why no reply came, when a handshake says (a refused CURVE key, a non-ZeroMQ peer)."""


class LazyPirate:
    """One REQ socket at a time to `endpoint`, kept between requests while it gets replies.

    Create it inside a running event loop and close it when done. One request at a time: a
    caller with several in flight uses several.
    """

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        *,
        timeout_ms: int,
        tries: int,
        max_reply_bytes: int | None,
    ) -> None:
        if timeout_ms < 1 or tries < 1:
            raise ValueError("timeout_ms and tries must be at least 1")
        self.ctx = ctx
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.tries = tries
        self.max_reply_bytes = max_reply_bytes
        self._sock: zmq.asyncio.Socket | None = None
        self._watch: HandshakeWatch | None = None

    def close(self) -> None:
        """Close the socket (linger 0); the next request opens a new one."""
        if self._watch is not None:
            self._watch.close()
            self._watch = None
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    async def ask(
        self, payload: bytes | Sequence[bytes], take: Callable[[list[bytes]], T | None]
    ) -> Exchange[T]:
        """Send `payload` (a frame, or a sequence of frames) until a reply comes that `take`
        accepts (returns other than None).

        A reply `take` turns down is another request's answer (a stale reply a confused broker
        routed back): the request goes again on the same socket, within the same try. Never
        waits longer than `tries` times `timeout_ms`; a socket cancelled mid-request is closed.
        """
        try:
            return await self._ask(payload, take)
        except BaseException:
            self.close()  # a REQ socket left mid-request is stuck
            raise

    async def _ask(
        self, payload: bytes | Sequence[bytes], take: Callable[[list[bytes]], T | None]
    ) -> Exchange[T]:
        loop = asyncio.get_running_loop()
        discarded = 0
        why: str | None = None
        for attempt in range(1, self.tries + 1):
            sock = self._socket()
            deadline = loop.time() + self.timeout_ms / 1000
            sent = await _send(sock, payload, deadline - loop.time())
            while sent and (remaining := deadline - loop.time()) > 0:
                if not await sock.poll(max(1, math.ceil(remaining * 1000)), zmq.POLLIN):
                    break
                taken = take(await sock.recv_multipart(flags=zmq.NOBLOCK))
                if taken is not None:
                    return Exchange(taken, attempt, discarded)
                discarded += 1
                sent = await _send(sock, payload, deadline - loop.time())
            why = self._close_after_silence() or why
        return Exchange(None, self.tries, discarded, why)

    def _close_after_silence(self) -> str | None:
        """Close a socket that got no answer; why it got none, when the handshake tells."""
        why = self._watch.failure() if self._watch is not None else None
        self.close()
        return why

    def _socket(self) -> zmq.asyncio.Socket:
        if self._sock is None:
            sock = self.ctx.socket(zmq.REQ)
            try:
                sockets.configure(sock, max_message_bytes=self.max_reply_bytes)
                watch = HandshakeWatch(sock)
            except BaseException:
                sock.close(linger=0)
                raise
            self._sock, self._watch = sock, watch
            try:
                sockets.connect(sock, self.endpoint)
            except BaseException:
                self.close()
                raise
        return self._sock


async def _send(
    sock: zmq.asyncio.Socket, payload: bytes | Sequence[bytes], timeout_s: float
) -> bool:
    """Send, or False if even queueing the request took the whole try.

    `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` swallows a cancellation that
    arrives as the send completes, so a cancelled load run went on to its end.
    """
    try:
        async with asyncio.timeout(max(timeout_s, 0.001)):
            if isinstance(payload, bytes):
                await sock.send(payload)
            else:
                await sock.send_multipart(payload)
    except TimeoutError:
        return False
    return True
