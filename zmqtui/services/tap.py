"""The tap: a ROUTER-to-DEALER proxy that pairs each request with its reply.

Clients connect to the tap's ROUTER as they would to the service; its DEALER connects to the
service. Each request goes on with a marker frame of the tap's own pushed onto its envelope,
just after the client's identity, as any ROUTER in a chain pushes one: a service that answers
like REP (REP, a ROUTER that keeps envelopes, a broker in front of either) sends the envelope
back, so the reply brings the marker back, and the tap takes it off before the client sees
the reply. The marker names one request, so pairs are exact whatever order replies come in:
a DEALER client with many requests in flight to a cluster whose workers answer out of order is
paired as well as a REQ client with one. A reply that comes back without a marker (a service
that rebuilds envelopes of its own) is still forwarded, and counted as unmatched.

The forwarding loop is C (`zmqtui.native`'s `TapLoop`), run on a thread of its own with the
GIL released, so printing and publishing pairs never hold up a message: it forwards, keeps
only the first bytes of each frame (as `Kept.of` does) and matches replies to requests.
Requests waiting for a reply are bounded (`max_pending`, the oldest is let go first) and
flagged once `timeout_ms` passes with no reply. Finished pairs wait in a bounded queue for a
reader (`drain`): a reader that falls behind loses pairs (counted), never slows the traffic.
"""

from __future__ import annotations

import codecs
import functools
import json
import re
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import zmq

from zmqtui.frames import format_frame
from zmqtui.native import loops
from zmqtui.protocol import MAX_MESSAGE_BYTES
from zmqtui.services import sockets

KEPT_BYTES = 512
"""Bytes of each frame the tap keeps to show."""
KEPT_FRAMES = 4
"""Frames of each message the tap keeps to show."""
TAIL_BYTES = 64
"""Bytes kept from the end of a first frame that was cut (where a JSON reply's `pid` is)."""
MAX_PENDING = 100_000
"""Requests waiting for a reply, at most; past it the oldest is given up on."""
MAX_QUEUED = 100_000
"""Pairs waiting for a reader, at most; past it new pairs are lost (counted)."""
TIMEOUT_MS = 2500
"""How long a request may wait for its reply before it is flagged."""
PAIRS_HWM = 100_000
"""Pairs the capture side's PUB queues for a subscriber that reads slowly; past it, dropped."""
PUBLISHED_CHARS = 80
"""Longest summary of a frame in a published pair."""
REMEMBERED_BODIES = 1024
"""Bodies whose summary and pid are remembered: services repeat replies, load tests requests."""

_MARKER_PREFIX_BYTES = 4
_PID = re.compile(rb'"pid"\s*:\s*(\d{1,10})\s*[,}]')


class Kept(NamedTuple):
    """A message's body as the tap keeps it: its first frames, each cut to its first bytes.

    A tuple, in the order the C loop hands its fields over, so that `Tap.drain` types what
    the loop gives rather than copying it field by field.
    """

    frames: tuple[bytes, ...]
    sizes: tuple[int, ...]
    """The kept frames' sizes before the cut."""
    frame_count: int
    size: int
    """Bytes in all its frames."""
    tail: bytes = b""
    """The last bytes of the first frame when it was cut (where a JSON reply's `pid` is)."""

    @classmethod
    def of(cls, body: Sequence[bytes]) -> Kept:
        """`body` kept as the tap's C loop keeps a message's body (which tests hold it to)."""
        first = body[:KEPT_FRAMES]
        kept = tuple(frame[:KEPT_BYTES] for frame in first)
        sizes = tuple(map(len, first))
        tail = body[0][-TAIL_BYTES:] if body and sizes[0] > KEPT_BYTES else b""
        return cls(kept, sizes, len(body), sum(map(len, body)), tail)

    @property
    def whole(self) -> bool:
        frames, _, frame_count, size, _ = self
        return frame_count == len(frames) and size == sum(map(len, frames))

    def summary(self, limit: int = 80) -> str:
        """The frames in the frame syntax (`zmqtui.frames`), one line, at most about `limit`
        characters each; a frame the tap cut ends in `…`."""
        return _summary(self, limit)

    def pid(self) -> int | None:
        """The `"pid"` a JSON reply's first frame names (read from its last bytes when the
        frame was cut), when it does."""
        return _pid(self)


class Pair(NamedTuple):
    """A request and its reply, or a request that got none (a tuple, as `Kept` is)."""

    sent_ms: float
    """Wall-clock time the tap received the request, in ms since the epoch."""
    client: bytes
    """The client's identity on the tap's ROUTER."""
    request: Kept
    reply: Kept | None
    """None: no reply within the timeout, or given up on to bound memory."""
    latency_ms: float | None
    """From the request reaching the tap to its reply reaching the tap."""
    why: str | None = None
    """Why there is no reply: `timeout` or `evicted`."""

    @property
    def pid(self) -> int | None:
        reply = self.reply
        return None if reply is None else reply.pid()

    def to_wire(self, limit: int = 80) -> dict[str, Any]:
        """A JSON-ready dict: summaries in the frame syntax, sizes, latency, pid."""
        sent_ms, client, request, reply, latency_ms, why = self
        return {
            "time_ms": round(sent_ms, 3),
            "client": client_label(client),
            "request": request.summary(limit),
            "request_bytes": request.size,
            "reply": None if reply is None else reply.summary(limit),
            "reply_bytes": None if reply is None else reply.size,
            "latency_ms": None if latency_ms is None else round(latency_ms, 3),
            "pid": None if reply is None else reply.pid(),
            "no_reply": why,
        }


class PairPublisher:
    """The tap's capture side: a PUB on which every finished pair goes out as one frame of
    JSON (`Pair.to_wire`), for the monitor's Conversations view or any subscriber. A PUB never
    waits for its subscribers: one that falls behind by `PAIRS_HWM` loses pairs, the tap does
    not slow down. Bound on loopback unless `public`.
    """

    def __init__(self, ctx: zmq.Context, endpoint: str, *, public: bool = False) -> None:
        self.sock = ctx.socket(zmq.PUB)
        try:
            sockets.configure(self.sock, max_message_bytes=None)
            self.sock.setsockopt(zmq.SNDHWM, PAIRS_HWM)
            self.bound = sockets.bind(self.sock, endpoint, public=public)
        except BaseException:
            self.sock.close(linger=0)
            raise

    def publish(self, pairs: Sequence[Pair]) -> None:
        for pair in pairs:
            self.sock.send(ascii_json(pair.to_wire(PUBLISHED_CHARS)), zmq.NOBLOCK)

    def close(self) -> None:
        sockets.remove_ipc_file(self.bound)
        self.sock.close(linger=0)


def ascii_json(wire: dict[str, Any]) -> bytes:
    """A pair's `to_wire` as compact JSON in ASCII, byte for byte as `json.dumps` writes it.

    orjson writes it faster and the same way whenever its output is ASCII: for strings,
    finite floats rounded to 3 decimals and 64-bit ints, its escapes and numbers are json's.
    What it refuses (lone surrogates) or writes in UTF-8 (non-ASCII text) goes to json.
    """
    try:
        data = orjson.dumps(wire)
    except orjson.JSONEncodeError:
        pass
    else:
        if data.isascii():
            return data
    return json.dumps(wire, separators=(",", ":")).encode()


@functools.lru_cache(maxsize=1024)
def client_label(identity: bytes) -> str:
    """A client's identity as text when it set a printable one, else in hex."""
    if identity and identity.isascii() and identity.decode("ascii").isprintable():
        return identity.decode("ascii")
    return identity.hex()


@functools.lru_cache(maxsize=REMEMBERED_BODIES)
def _summary(kept: Kept, limit: int) -> str:
    """`Kept.summary`, worked out once while the same body keeps coming."""
    frames, sizes, frame_count, _, _ = kept
    if frame_count == 1 == len(frames) and sizes[0] == len(frames[0]):
        return format_frame(frames[0], limit=limit)  # one whole frame, as most are
    shown = [
        _show(frame, len(frame) < size, limit) for frame, size in zip(frames, sizes, strict=True)
    ]
    if frame_count > len(frames):
        shown.append(f"+{frame_count - len(frames)} frames")
    return " | ".join(shown)


@functools.lru_cache(maxsize=REMEMBERED_BODIES)
def _pid(kept: Kept) -> int | None:
    """`Kept.pid`, worked out once while the same reply keeps coming."""
    frames, _, _, _, tail = kept
    if not frames or frames[0][:1] != b"{":
        return None
    source = frames[0] if kept.whole else tail
    match = _PID.search(source) if b'"pid"' in source else None
    return int(match.group(1)) if match else None


def _show(frame: bytes, cut: bool, limit: int) -> str:
    if not cut:
        return format_frame(frame, limit=limit)
    try:  # a character split by the cut is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(frame, final=False)
    except UnicodeDecodeError:
        shown = "hex:" + frame.hex()[:limit]
    else:
        shown = format_frame(text.encode(), limit=limit)
        if shown.startswith("hex:"):
            shown = "hex:" + frame.hex()[:limit]
    return shown if shown.endswith("…") else shown + "…"


@dataclass(slots=True)
class TapCounts:
    """What the tap has seen since it started (a snapshot of its loop's counts)."""

    requests: int = 0
    pairs: int = 0
    timeouts: int = 0
    evicted: int = 0
    late: int = 0
    """Replies that came after their request was flagged (or given up on)."""
    unmatched: int = 0
    """Replies without the tap's marker (forwarded all the same)."""
    lost: int = 0
    """Pairs no reader took before the queue was full."""
    pending: int = 0


class Tap:
    """The proxy and its capture (see the module's docstring). `start`, `drain`, `stop`."""

    def __init__(
        self,
        ctx: zmq.Context,
        listen: str,
        forward: str,
        *,
        timeout_ms: int = TIMEOUT_MS,
        max_pending: int = MAX_PENDING,
        max_queued: int = MAX_QUEUED,
        max_request_bytes: int | None = MAX_MESSAGE_BYTES,
        public: bool = False,
    ) -> None:
        if timeout_ms < 1 or max_pending < 1 or max_queued < 1:
            raise ValueError("timeout_ms, max_pending and max_queued must be at least 1")
        self.ctx = ctx
        self.listen = listen
        self.forward = forward
        self.timeout_ms = timeout_ms
        self.max_request_bytes = max_request_bytes
        self.public = public
        self.bound: str | None = None
        self._loop = loops.TapLoop(
            prefix=secrets.token_bytes(_MARKER_PREFIX_BYTES),
            kept_bytes=KEPT_BYTES,
            kept_frames=KEPT_FRAMES,
            tail_bytes=TAIL_BYTES,
            timeout_ms=timeout_ms,
            max_pending=max_pending,
            max_queued=max_queued,
        )
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> str:
        """Bind and connect (raising `EndpointError` here), then proxy on a thread; returns
        the endpoint bound."""
        frontend = self.ctx.socket(zmq.ROUTER)
        backend = self.ctx.socket(zmq.DEALER)
        try:
            sockets.configure(frontend, max_message_bytes=self.max_request_bytes)
            sockets.configure(backend, max_message_bytes=None)
            self.bound = sockets.bind(frontend, self.listen, public=self.public)
            sockets.connect(backend, self.forward)
        except BaseException:
            frontend.close(linger=0)
            backend.close(linger=0)
            raise
        self._thread = threading.Thread(
            target=self._run, args=(frontend, backend), name="zmqtui-tap", daemon=True
        )
        self._thread.start()
        return self.bound

    def stop(self) -> None:
        """Stop proxying and close the sockets (requests still waiting are dropped). Waits for
        the loop's thread however long it takes: the loop sees `stop` within its poll interval
        and a turn's bounded work, and until it ends it uses the sockets, so the context must
        not be destroyed before."""
        self._loop.stop()
        if self._thread is not None:
            self._thread.join()

    @property
    def failed(self) -> BaseException | None:
        """What ended the proxy's thread, if something did."""
        return self._error

    @property
    def counts(self) -> TapCounts:
        """What the tap has seen so far."""
        return TapCounts(*self._loop.counts())

    def drain(self, limit: int | None = None) -> list[Pair]:
        """The pairs finished since the last call, oldest first (at most `limit`)."""
        records = self._loop.drain(-1 if limit is None else limit)
        typed = tuple.__new__  # the loop's tuples typed as the NamedTuples they are, in C
        return [
            typed(Pair, (sent_ms, client, typed(Kept, req), rep and typed(Kept, rep), ms, why))
            for sent_ms, client, req, rep, ms, why in records
        ]

    def _run(self, frontend: zmq.Socket, backend: zmq.Socket) -> None:
        """The proxy's thread: the C loop owns the sockets until `stop`, then they close."""
        try:
            self._loop.run(frontend.underlying, backend.underlying)
        except BaseException as exc:
            self._error = exc
        finally:
            sockets.remove_ipc_file(self.bound or "")
            frontend.close(linger=0)
            backend.close(linger=0)
