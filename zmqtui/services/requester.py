"""The requester: file requests that never hang (Lazy Pirate) and many of them in flight.

Each try waits at most `timeout_ms`, then a fresh socket asks again, up to `tries` times (see
`reqrep.LazyPirate`). A reply can only arrive on the socket that sent the request, and each
request carries a unique `id`: a reply that echoes another id (a stale answer routed back by a
confused broker) is discarded and the request re-sent within the same try. Replies that echo no
id, like the book's `zmq-filer-rep.js` sends, are taken as they are.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

import zmq
import zmq.asyncio

from zmqtui.config import MAX_FILE_BYTES, REQUEST_TIMEOUT_MS, REQUEST_TRIES
from zmqtui.protocol import (
    ErrorReply,
    FileReply,
    FileRequest,
    ProtocolError,
    decode_reply,
    max_reply_bytes,
)
from zmqtui.results import LoadSummary, RequestResult
from zmqtui.services.reqrep import LazyPirate

MAX_REPLY_BYTES = max_reply_bytes(MAX_FILE_BYTES)
"""Inbound limit for replies: what a server with the default file limit can send. For a server
with `--max-bytes N`, `max_reply_bytes(N)`."""

_REQUEST_IDS = (f"{secrets.token_hex(4)}-{n}" for n in itertools.count(1))
"""A file request's `id`: unique in this process, and a random prefix apart from others'."""


class PirateClient:
    """Requests to `endpoint` on a Lazy Pirate (see `reqrep`), one at a time: concurrent
    requests on one client wait for each other (`_lock`); use several for concurrency. What a
    request is and how its reply is taken is the subclass's.

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
        self._pirate = LazyPirate(
            ctx, endpoint, timeout_ms=timeout_ms, tries=tries, max_reply_bytes=max_reply_bytes
        )
        self._lock = asyncio.Lock()

    @property
    def endpoint(self) -> str:
        return self._pirate.endpoint

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket (linger 0); the next request opens a new one."""
        self._pirate.close()


class Requester(PirateClient):
    """File requests (`{"path": ..., "id": ...}`), each reply matched by the id it echoes."""

    async def request(self, path: str) -> RequestResult:
        """Ask for `path`; never raises for a missing or bad answer, never waits forever."""
        async with self._lock:
            return await self._request(path)

    async def _request(self, path: str) -> RequestResult:
        request_id = next(_REQUEST_IDS)
        started = time.perf_counter()

        def take(frames: list[bytes]) -> _Taken | None:
            raw = frames[0] if len(frames) == 1 else b"".join(frames)
            try:
                reply = decode_reply(frames)
            except ProtocolError as exc:
                return _Taken(None, raw, f"malformed reply: {exc.message}")
            if reply.id is not None and reply.id != request_id:
                return None  # another request's answer
            return _Taken(reply, raw)

        exchange = await self._pirate.ask(FileRequest(path=path, id=request_id).encode(), take)
        result = functools.partial(
            RequestResult,
            path=path,
            latency_ms=(time.perf_counter() - started) * 1000,
            tries=exchange.tries,
            request_id=request_id,
            discarded=exchange.discarded,
        )
        if (taken := exchange.taken) is not None:
            return result(reply=taken.reply, raw=taken.raw, error=taken.error)
        error = f"unavailable after {exchange.tries} tries"
        if exchange.why is None:
            return result(reply=None, error=error)
        why = exchange.why
        return result(reply=None, error=f"{error}: {why}", handshake_failure=why)


@dataclass(frozen=True, slots=True)
class _Taken:
    """A reply as a request takes it: decoded, or malformed and why."""

    reply: FileReply | ErrorReply | None
    raw: bytes
    error: str | None = None


async def run_load(
    ctx: zmq.asyncio.Context,
    endpoint: str,
    path: str,
    count: int,
    concurrency: int,
    *,
    timeout_ms: int = REQUEST_TIMEOUT_MS,
    tries: int = REQUEST_TRIES,
    max_reply_bytes: int = MAX_REPLY_BYTES,
    stop_when_unavailable: bool = True,
    on_result: Callable[[RequestResult], None] | None = None,
) -> LoadSummary:
    """Send `count` requests for `path`, `concurrency` in flight on as many REQ sockets.

    With `stop_when_unavailable`, the first request that gets no answer after every try stops
    further sends (the rest count as `not_sent`) rather than waiting out each of them.
    """
    if count < 1 or concurrency < 1:
        raise ValueError("count and concurrency must be at least 1")
    summary = LoadSummary(endpoint=endpoint, path=path, count=count, concurrency=concurrency)
    stop = asyncio.Event()

    async def client() -> None:
        async with Requester(
            ctx, endpoint, timeout_ms=timeout_ms, tries=tries, max_reply_bytes=max_reply_bytes
        ) as requester:
            while summary.sent < count and not stop.is_set():
                summary.sent += 1
                result = await requester.request(path)
                summary.add(result)
                if on_result is not None:
                    on_result(result)
                if result.outcome == "unavailable" and stop_when_unavailable:
                    stop.set()

    started = time.perf_counter()
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(count, concurrency)):
                group.create_task(client())
    finally:
        summary.elapsed_s = time.perf_counter() - started
    return summary
