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
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

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
from zmqtui.services.reqrep import LazyPirate

MAX_REPLY_BYTES = max_reply_bytes(MAX_FILE_BYTES)
"""Inbound limit for replies: what a server with the default file limit can send. For a server
with `--max-bytes N`, `max_reply_bytes(N)`."""

Outcome = Literal["reply", "error", "malformed", "unavailable"]


@dataclass(frozen=True, slots=True)
class RequestResult:
    """How one request ended, and what it took."""

    path: str
    reply: FileReply | ErrorReply | None
    latency_ms: float
    """From the first send to the accepted reply (or to giving up), retries included."""
    tries: int
    error: str | None = None
    """Why there is no reply, e.g. "unavailable after 3 tries"; None when there is one."""
    request_id: str | None = None
    raw: bytes | None = None
    """The reply exactly as it arrived (a malformed one too), for `--json` and debugging."""
    discarded: int = 0
    """Replies thrown away because they answered another request."""
    handshake_failure: str | None = None
    """Why there was no reply when the connection's handshake tells (the server refused our
    CURVE key, a security mismatch, a peer that is not a ZeroMQ service)."""

    @property
    def outcome(self) -> Outcome:
        """reply (a file), error (an error reply), malformed (an answer that is no reply), or
        unavailable (no answer after every try)."""
        if isinstance(self.reply, FileReply):
            return "reply"
        if isinstance(self.reply, ErrorReply):
            return "error"
        return "unavailable" if self.raw is None else "malformed"


class Requester:
    """File requests to `endpoint`, one at a time, on a Lazy Pirate (see `reqrep`).

    Create it inside a running event loop; close it (or use `async with`) when done. Concurrent
    `request` calls on one requester wait for each other; use several for concurrency.
    """

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        *,
        timeout_ms: int = REQUEST_TIMEOUT_MS,
        tries: int = REQUEST_TRIES,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self._pirate = LazyPirate(
            ctx, endpoint, timeout_ms=timeout_ms, tries=tries, max_reply_bytes=max_reply_bytes
        )
        self._lock = asyncio.Lock()
        self._ids = (f"{secrets.token_hex(4)}-{n}" for n in itertools.count(1))

    @property
    def endpoint(self) -> str:
        return self._pirate.endpoint

    async def __aenter__(self) -> Requester:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket (linger 0); the next request opens a new one."""
        self._pirate.close()

    async def request(self, path: str) -> RequestResult:
        """Ask for `path`; never raises for a missing or bad answer, never waits forever."""
        async with self._lock:
            return await self._request(path)

    async def _request(self, path: str) -> RequestResult:
        request_id = next(self._ids)
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


@dataclass(slots=True)
class LoadSummary:
    """What `run_load` saw: who answered, what failed, how fast."""

    endpoint: str
    path: str
    count: int
    concurrency: int
    sent: int = 0
    replies: int = 0
    """File replies."""
    replies_by_pid: Counter[int] = field(default_factory=Counter)
    """Every answer (file or error reply) by the pid that sent it."""
    errors_by_code: Counter[str] = field(default_factory=Counter)
    malformed: int = 0
    unavailable: int = 0
    retries: int = 0
    """Tries beyond the first, summed over all requests."""
    discarded: int = 0
    handshake_failure: str | None = None
    """Why the latest unavailable request got no reply, when its handshake tells."""
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    """One per answered request (file, error or malformed)."""

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)

    @property
    def not_sent(self) -> int:
        """Requests never sent because the load stopped when the service was unavailable."""
        return self.count - self.sent

    @property
    def rate(self) -> float:
        """Answered requests per second of wall time."""
        return self.answered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, p: float) -> float | None:
        """The nearest-rank `p`th percentile of the latencies in ms, None without any."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def latency(self) -> dict[str, float | None]:
        return {
            "p50": self.percentile(50),
            "p90": self.percentile(90),
            "p99": self.percentile(99),
            "max": max(self.latencies_ms, default=None),
        }

    def add(self, result: RequestResult) -> None:
        self.retries += result.tries - 1
        self.discarded += result.discarded
        if result.outcome == "unavailable":
            self.unavailable += 1
            self.handshake_failure = result.handshake_failure or self.handshake_failure
            return
        self.latencies_ms.append(result.latency_ms)
        if result.reply is None:
            self.malformed += 1
            return
        self.replies_by_pid[result.reply.pid] += 1
        if isinstance(result.reply, ErrorReply):
            self.errors_by_code[result.reply.code] += 1
        else:
            self.replies += 1

    def to_wire(self) -> dict[str, Any]:
        """A JSON-ready dict (pids as strings, as JSON object keys must be)."""
        return {
            "endpoint": self.endpoint,
            "path": self.path,
            "count": self.count,
            "concurrency": self.concurrency,
            "sent": self.sent,
            "not_sent": self.not_sent,
            "answered": self.answered,
            "replies": self.replies,
            "replies_by_pid": {str(pid): n for pid, n in sorted(self.replies_by_pid.items())},
            "errors_by_code": dict(sorted(self.errors_by_code.items())),
            "malformed": self.malformed,
            "unavailable": self.unavailable,
            "handshake_failure": self.handshake_failure,
            "retries": self.retries,
            "discarded": self.discarded,
            "elapsed_s": self.elapsed_s,
            "rate": self.rate,
            "latency_ms": self.latency,
        }


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
