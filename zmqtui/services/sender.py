"""Send any message (one or more frames) to any request/reply service and take its reply.

Two ways to ask:
- REQ (the default), one request at a time per socket on a Lazy Pirate (`reqrep.LazyPirate`):
  what the book's requester does, for services behind REP, a ROUTER that answers like REP, or
  a broker in front of either.
- DEALER, many requests in flight on one socket. Each message goes behind an envelope of its
  own, a request id frame and the empty delimiter (what REQ does with `ZMQ_REQ_CORRELATE`); a
  service that answers like REP sends the envelope back, so every reply finds its request
  whatever order replies come in, through any number of brokers. A request with no reply
  within `timeout_ms` goes again with the same id, up to `tries` times; a reply to an id that
  is no longer waited for (a duplicate, a late one) is discarded and counted.

Replies are taken as they come: any reply answers. One whose first frame is a JSON object with
an `error` object (the filer's error reply) is counted by its code, and a JSON `pid` by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

import zmq
import zmq.asyncio

from zmqtui.config import REQUEST_TIMEOUT_MS, REQUEST_TRIES
from zmqtui.request_spec import SocketKind
from zmqtui.results import SendResult, SendSummary
from zmqtui.security import HandshakeWatch
from zmqtui.services import sockets
from zmqtui.services.requester import MAX_REPLY_BYTES, PirateClient


class DealerClient:
    """Requests on one DEALER socket, as many in flight as callers ask; replies matched by
    the envelope's request id (see the module's docstring).

    Create it inside a running event loop; close it (or use `async with`) when done.
    """

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        *,
        timeout_ms: int = REQUEST_TIMEOUT_MS,
        tries: int = REQUEST_TRIES,
        max_reply_bytes: int | None = MAX_REPLY_BYTES,
    ) -> None:
        if timeout_ms < 1 or tries < 1:
            raise ValueError("timeout_ms and tries must be at least 1")
        self.endpoint = endpoint
        self.timeout_ms = timeout_ms
        self.tries = tries
        self.discarded = 0
        """Replies that answered no request waiting for one (a duplicate, a late reply, a
        reply without our envelope)."""
        self._waiting: dict[bytes, asyncio.Future[list[bytes]]] = {}
        self._prefix = secrets.token_bytes(4)
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._sock = ctx.socket(zmq.DEALER)
        try:
            sockets.configure(self._sock, max_message_bytes=max_reply_bytes)
            self._watch = HandshakeWatch(self._sock)
        except BaseException:
            self._sock.close(linger=0)
            raise
        try:
            sockets.connect(self._sock, endpoint)
        except BaseException:
            self.close()
            raise
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def __aenter__(self) -> DealerClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading, close the socket (linger 0); requests still waiting get no reply."""
        if self._reader is not None:
            self._reader.cancel()
        self._watch.close()
        self._sock.close(linger=0)

    async def request(self, frames: Sequence[bytes]) -> SendResult:
        """Send `frames` until its reply comes or every try has waited `timeout_ms`."""
        loop = asyncio.get_running_loop()
        request_id = self._prefix + next(self._ids).to_bytes(8, "big")
        reply = self._waiting[request_id] = loop.create_future()
        started = time.perf_counter()
        try:
            for attempt in range(1, self.tries + 1):
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.timeout_ms / 1000):
                        await self._sock.send_multipart([request_id, b"", *frames])
                        frames_back = await asyncio.shield(reply)
                        return SendResult(frames_back, _since(started), attempt)
        finally:
            del self._waiting[request_id]
        why = self._watch.failure()
        return SendResult(None, _since(started), self.tries, handshake_failure=why)

    async def _read(self) -> None:
        while True:
            frames = await self._sock.recv_multipart()
            waiting = self._waiting.get(frames[0]) if len(frames) > 1 and frames[1] == b"" else None
            if waiting is None or waiting.done():
                self.discarded += 1
            else:
                waiting.set_result(frames[2:])


class ReqClient(PirateClient):
    """Any message on a Lazy Pirate REQ socket, one at a time; the reply taken as its frames."""

    discarded = 0
    """Always 0: a REQ socket only ever hands over the reply to its own request."""

    async def request(self, frames: Sequence[bytes]) -> SendResult:
        """Send `frames` until a reply comes or every try has waited; never raises for that."""
        async with self._lock:
            started = time.perf_counter()
            exchange = await self._pirate.ask(list(frames), lambda reply: reply)
            return SendResult(
                exchange.taken, _since(started), exchange.tries, exchange.discarded, exchange.why
            )


def open_client(
    ctx: zmq.asyncio.Context,
    endpoint: str,
    kind: SocketKind,
    *,
    timeout_ms: int = REQUEST_TIMEOUT_MS,
    tries: int = REQUEST_TRIES,
    max_reply_bytes: int | None = MAX_REPLY_BYTES,
) -> ReqClient | DealerClient:
    """A client of `kind`; inside a running event loop."""
    client = DealerClient if kind == "DEALER" else ReqClient
    return client(
        ctx, endpoint, timeout_ms=timeout_ms, tries=tries, max_reply_bytes=max_reply_bytes
    )


async def run_send_load(
    ctx: zmq.asyncio.Context,
    endpoint: str,
    frames: Sequence[bytes],
    count: int,
    concurrency: int,
    *,
    kind: SocketKind = "REQ",
    timeout_ms: int = REQUEST_TIMEOUT_MS,
    tries: int = REQUEST_TRIES,
    max_reply_bytes: int | None = MAX_REPLY_BYTES,
    on_result: Callable[[SendResult], None] | None = None,
) -> SendSummary:
    """Send `frames` `count` times, `concurrency` in flight: on as many REQ sockets, or on one
    DEALER. The first message with no reply after every try stops further sends."""
    if count < 1 or concurrency < 1:
        raise ValueError("count and concurrency must be at least 1")
    summary = SendSummary(endpoint, kind, len(frames), count=count, concurrency=concurrency)
    stop = asyncio.Event()
    options: dict[str, Any] = {
        "timeout_ms": timeout_ms,
        "tries": tries,
        "max_reply_bytes": max_reply_bytes,
    }

    async def slot(client: ReqClient | DealerClient) -> None:
        while summary.sent < count and not stop.is_set():
            summary.sent += 1
            result = await client.request(frames)
            summary.add(result)
            if on_result is not None:
                on_result(result)
            if result.reply is None:
                stop.set()

    slots = min(count, concurrency)
    started = time.perf_counter()
    clients: list[ReqClient | DealerClient] = []
    try:
        for _ in range(1 if kind == "DEALER" else slots):
            clients.append(open_client(ctx, endpoint, kind, **options))
        async with asyncio.TaskGroup() as group:
            for n in range(slots):
                group.create_task(slot(clients[n % len(clients)]))
    finally:
        summary.elapsed_s = time.perf_counter() - started
        for client in clients:
            summary.discarded += client.discarded
            client.close()
    return summary


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
