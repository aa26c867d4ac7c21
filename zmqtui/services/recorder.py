"""Records every message of one or more feeds to a recording (`zmqtui.recording`).

One SUB socket per feed, its receive queue sized for a burst (`RECEIVE_HWM`), drained in
batches with `NOBLOCK` receives on one thread that also encodes and writes: receiving and
encoding cost a few µs a message, so a 100k msg/s feed is taken in whole. What was written is
flushed to the file every second, so a recorder killed loses at most that.

A message over the size limit makes libzmq end the connection for good; `sockets.SessionWatch`
notices, the connection is made again and the message counted in `RecordResult.oversized`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import zmq
from zmq.utils.monitor import parse_monitor_message

from zmqtui.config import DEFAULT_MAX_FEED_BYTES
from zmqtui.recording import RecordedFeed, RecordingWriter
from zmqtui.services import sockets

RECEIVE_HWM = 100_000
"""Messages libzmq queues per feed: a burst of a second at 100k msg/s."""

BATCH = 2_000
"""Most messages taken from one feed before the others, the clock and the signals get a turn."""

FLUSH_EVERY_S = 1.0
IDLE_POLL_MS = 100

StopReason = Literal["count", "duration", "stopped"]


@dataclass(slots=True)
class RecordResult:
    """What a recording run wrote, and why it ended."""

    messages: int = 0
    seconds: float = 0.0
    stopped_by: StopReason = "stopped"
    oversized: dict[str, int] = field(default_factory=dict)
    """Per feed: messages over the size limit (each ended a connection, made again)."""


@dataclass(slots=True)
class _Feed:
    name: str
    endpoint: str
    sock: zmq.Socket
    monitor: zmq.Socket
    session: sockets.SessionWatch


class Recorder:
    """Subscribes to `feeds` on `ctx` and writes what arrives with `writer` until `stop()`,
    `count` messages or `duration` seconds.

    Args:
        on_problem: told (from the recording thread) what went wrong with a feed, in a line.
    """

    def __init__(
        self,
        ctx: zmq.Context,
        writer: RecordingWriter,
        feeds: Sequence[RecordedFeed],
        *,
        count: int | None = None,
        duration: float | None = None,
        max_message_bytes: int = DEFAULT_MAX_FEED_BYTES,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.writer = writer
        self.specs = tuple(feeds)
        self.count = count
        self.duration = duration
        self.max_message_bytes = max_message_bytes
        self.on_problem = on_problem
        self._stopping = False

    def stop(self) -> None:
        """End the run after the batch in hand (safe from a signal handler)."""
        self._stopping = True

    def run(self) -> RecordResult:
        """Record until told to stop; the writer is flushed but left open."""
        feeds: list[_Feed] = []
        try:
            for spec in self.specs:
                feeds.append(self._open(spec))
            return self._record(feeds)
        finally:
            for feed in feeds:
                with contextlib.suppress(zmq.ZMQError):
                    feed.sock.disable_monitor()
                feed.monitor.close(linger=0)
                feed.sock.close(linger=0)

    def _open(self, spec: RecordedFeed) -> _Feed:
        sock = self.ctx.socket(zmq.SUB)
        try:
            sockets.configure(sock, max_message_bytes=self.max_message_bytes)
            sock.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
            monitor = sock.get_monitor_socket(sockets.WATCHED_EVENTS)
        except BaseException:
            sock.close(linger=0)
            raise
        feed = _Feed(spec.name, spec.endpoint, sock, monitor, sockets.SessionWatch())
        for prefix in dict.fromkeys(spec.subscriptions):
            sock.subscribe(prefix.encode())
        try:
            sockets.connect(sock, spec.endpoint)
        except BaseException:
            monitor.close(linger=0)
            sock.close(linger=0)
            raise
        return feed

    def _record(self, feeds: list[_Feed]) -> RecordResult:
        result = RecordResult(oversized={feed.name: 0 for feed in feeds})
        writer = self.writer
        write_batch = writer.write_batch
        recv = sockets.recv_nowait
        clock = time.time_ns
        started = time.monotonic()
        deadline = None if self.duration is None else started + self.duration
        next_flush = started + FLUSH_EVERY_S
        poller = zmq.Poller()
        for feed in feeds:
            poller.register(feed.sock, zmq.POLLIN)
            poller.register(feed.monitor, zmq.POLLIN)
        busy = False
        while not self._stopping:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                result.stopped_by = "duration"
                break
            if now >= next_flush:
                writer.flush()
                next_flush = now + FLUSH_EVERY_S
            timeout = 0 if busy else IDLE_POLL_MS
            if deadline is not None:
                timeout = min(timeout, max(0, int((deadline - now) * 1000) + 1))
            ready = dict(poller.poll(timeout))
            busy = False
            for feed in feeds:
                limit = BATCH
                if self.count is not None:
                    limit = min(limit, self.count - writer.messages)
                batch = []
                name = feed.name
                sock = feed.sock
                for _ in range(limit):
                    try:
                        frames = recv(sock)
                    except zmq.Again:
                        break
                    batch.append((clock(), name, frames))
                if batch:
                    write_batch(batch)
                    busy = busy or len(batch) == limit
                if feed.monitor in ready:
                    self._watch(feed)
                if feed.session.given_up():
                    result.oversized[name] += 1
                    if self.on_problem is not None:
                        text = sockets.given_up_text(feed.endpoint, self.max_message_bytes)
                        self.on_problem(text if name == feed.endpoint else f"{name}: {text}")
                    sockets.reconnect(sock, feed.endpoint)
            if self.count is not None and writer.messages >= self.count:
                result.stopped_by = "count"
                break
        writer.flush()
        result.messages = writer.messages
        result.seconds = time.monotonic() - started
        return result

    def _watch(self, feed: _Feed) -> None:
        for frames in sockets.queued_messages(feed.monitor, 100):
            feed.session.saw(parse_monitor_message(frames)["event"])
