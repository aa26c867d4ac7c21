"""Receive change events from a publisher (zmq-watcher-sub.js), in batches, never crashing.

`iter_frame_batches` owns one SUB socket to any publisher and yields lists of messages as
`Capture`s (frames and receive time); `iter_event_batches` yields them read as change events:
each with its event or the reason it is not one. `SequenceTracker` turns the `seq` and
`publisher` fields into notes about missed events and new or restarted publishers.

Prefixes: ZeroMQ filters on the first bytes of the message, and the message is JSON that
starts `{"type":"changed","file":"` (ours and the book's alike). So a prefix is read as:
`""` everything; a string starting with `{` the raw beginning of the message; any other
string the beginning of the published file path; `bytes` exactly those bytes.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from zmqtui.captures import Capture, event_capture
from zmqtui.protocol import ChangeEvent
from zmqtui.security import CurveProfile
from zmqtui.services import sockets
from zmqtui.text import printable

MAX_BATCH = 500
SESSION_CHECK_MS = 500
"""How often a quiet subscriber looks whether libzmq gave its connection up."""
LATE_AFTER_MS = 1000
"""An event received this long after it was published means the subscriber is falling behind."""
RESTART_PAUSE_MS = 100
"""A new publisher heard less than this after the previous one's latest event (by their
timestamps) is not taken for its restart: stopping a process, starting another and ZeroMQ
connecting again (it waits 100 ms between attempts) take longer."""

SHOWN_PUBLISHER_CHARS = 64
"""How much of a publisher id a note quotes."""

_EVENT_START = b'{"type":"changed","file":'

Prefix = str | bytes


def topic_for(prefix: Prefix) -> bytes:
    """The bytes ZeroMQ filters on for a prefix (see the module docstring for the rules)."""
    if isinstance(prefix, bytes):
        return prefix
    if not prefix:
        return b""
    if prefix.startswith("{"):
        return prefix.encode("utf-8", "surrogatepass")
    quoted = json.dumps(prefix, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return _EVENT_START + quoted[:-1]  # the path's beginning: leave the string open


def describe_raw(frames: Sequence[bytes], limit: int = 200) -> str:
    """A message's frames as one escaped, printable line, cut at `limit` bytes per frame."""
    parts = []
    for frame in frames:
        text = repr(frame[:limit])
        if len(frame) > limit:
            text += f"... ({len(frame)} bytes)"
        parts.append(text)
    return " | ".join(parts) if parts else "(no frames)"


async def iter_event_batches(
    ctx: zmq.asyncio.Context,
    endpoint: str,
    prefixes: Iterable[Prefix] = ("",),
    max_batch: int = MAX_BATCH,
    on_problem: Callable[[str], None] | None = None,
) -> AsyncIterator[list[Capture]]:
    """Connect a SUB socket and yield what arrives, read as change events, up to
    `max_batch` messages at a time (see `iter_frame_batches`)."""
    topics = (topic_for(prefix) for prefix in prefixes)
    async for batch in iter_frame_batches(ctx, endpoint, topics, max_batch, on_problem):
        yield [event_capture(capture.frames, capture.received_ns) for capture in batch]


async def iter_frame_batches(
    ctx: zmq.asyncio.Context,
    endpoint: str,
    topics: Iterable[bytes] = (b"",),
    max_batch: int = MAX_BATCH,
    on_problem: Callable[[str], None] | None = None,
    *,
    max_message_bytes: int = sockets.MAX_MESSAGE_BYTES,
    curve: CurveProfile | bool = True,
) -> AsyncIterator[list[Capture]]:
    """Connect a SUB socket to any publisher and yield the messages that arrive with their
    receive times (`time.time_ns()`), not decoded, up to `max_batch` at a time.

    Waits as long as it takes for the next message (a publisher may be quiet for hours, and
    ZeroMQ reconnects on its own); stop it by cancelling the task that iterates it. A
    connection libzmq gives up for good (a message over `max_message_bytes` ends it) is told
    to `on_problem` and made again.
    """
    sock = ctx.socket(zmq.SUB)
    monitor = sock.get_monitor_socket(sockets.WATCHED_EVENTS)
    try:
        sockets.configure(sock, max_message_bytes=max_message_bytes)
        sockets.connect(sock, endpoint, curve=curve)
        for topic in dict.fromkeys(topics):
            sock.subscribe(topic)
        view, events = sockets.plain_view(sock), sockets.plain_view(monitor)
        session = sockets.SessionWatch()
        poller = zmq.asyncio.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        while True:
            ready = dict(await poller.poll(SESSION_CHECK_MS))
            for frames in sockets.queued_messages(events, max_batch):
                session.saw(parse_monitor_message(frames)["event"])
            if session.given_up():
                if on_problem is not None:
                    on_problem(sockets.given_up_text(endpoint, max_message_bytes))
                sockets.reconnect(sock, endpoint)
            if sock in ready:
                batch = [
                    Capture(tuple(frames), time.time_ns())
                    for frames in sockets.queued_messages(view, max_batch)
                ]
                if batch:
                    yield batch
    finally:
        with contextlib.suppress(zmq.ZMQError):
            sock.disable_monitor()
        monitor.close(linger=0)
        sock.close(linger=0)


@dataclass(slots=True)
class _Publisher:
    """What a `SequenceTracker` remembers of one publisher."""

    seq: int
    last_ms: int
    """The `timestamp` of its latest event."""
    pid: int | None
    replaced_by: str | None = None
    """The publisher it was reported to have restarted as, until it is heard again."""


class SequenceTracker:
    """Notices missed events, restarted publishers and a feed that falls behind.

    Publishers are told apart by their `publisher` id (by `pid` for those without one). Events
    without `seq` (the book's publisher) are never reported as gaps.

    A publisher id not heard before is reported, unless it is the first one heard:
    - as `publisher restarted: NEW (pid P) replaced OLD` when there is evidence of a restart:
      the feed has so far carried one publisher at a time, OLD being the one heard last, and
      NEW runs in OLD's process (same `pid`) or its first event was published at least
      `restart_pause_ms` after OLD's latest (a restart is not faster: ZeroMQ waits 100 ms
      before it connects again). The events NEW sent before this one are reported missed;
    - otherwise as `new publisher: NEW (pid P)`: one endpoint may carry several publishers
      at once (a subscriber of a forwarder, or of two watchers).
    A publisher taken for restarted that is heard again is reported still running, and from
    then on the feed is known to carry several publishers: new ids are new publishers. A
    publisher that sends a `seq` lower than before is reported restarted.

    `seq` counts everything a publisher sends, so a subscriber that filters by prefix sees
    gaps for every event it filtered out: pass `report_gaps=False` then (publishers are still
    reported).
    """

    def __init__(
        self,
        *,
        report_gaps: bool = True,
        late_after_ms: int = LATE_AFTER_MS,
        restart_pause_ms: int = RESTART_PAUSE_MS,
    ) -> None:
        self._report_gaps = report_gaps
        self._late_after_ms = late_after_ms
        self._restart_pause_ms = restart_pause_ms
        self._publishers: dict[str, _Publisher] = {}
        self._newest: str | None = None
        """The publisher heard first most recently."""
        self._shared = False
        """Publishers have been heard side by side: a new one is not taken for a restart."""
        self._late = False
        self.missed = 0
        """Events the gaps reported so far leave out: what the publisher sent that never came."""

    def observe(self, event: ChangeEvent, received_ms: int | None = None) -> list[str]:
        """Notes (one line each) about what this event reveals; usually none."""
        notes = []
        if event.seq is not None:
            notes += self._check_sequence(event, event.seq)
        if received_ms is not None:
            age = received_ms - event.timestamp
            if age > self._late_after_ms and not self._late:
                notes.append(f"falling behind: an event arrived {age} ms after it was published")
            self._late = age > self._late_after_ms
        return notes

    def _check_sequence(self, event: ChangeEvent, seq: int) -> list[str]:
        key = event.publisher or (f"pid {event.pid}" if event.pid is not None else "unknown")
        known = self._publishers.get(key)
        if known is None:
            return self._first_heard(key, event, seq)
        last, known.seq, known.last_ms = known.seq, seq, event.timestamp
        if seq == last + 1 and key == self._newest:
            return []  # the usual case, and the hot path of a flood: nothing to say
        notes = []
        name = _quoted(key)
        if key != self._newest:
            self._shared = True
            if known.replaced_by is not None:
                notes.append(
                    f"publisher {name} is still running: {known.replaced_by} is another "
                    "publisher, not its restart"
                )
                known.replaced_by = None
        if seq <= last:
            notes.append(f"publisher {name} restarted: seq went back from {last} to {seq}")
        elif seq > last + 1 and self._report_gaps:
            self.missed += seq - last - 1
            missing = f"{last + 1}" if seq == last + 2 else f"{last + 1}..{seq - 1}"
            notes.append(
                f"gap: missed {seq - last - 1} event(s) from publisher {name} (seq {missing})"
            )
        return notes

    def _first_heard(self, key: str, event: ChangeEvent, seq: int) -> list[str]:
        replaced = self._replaced_by_new(event)
        newest, self._newest = self._newest, key
        self._publishers[key] = _Publisher(seq, event.timestamp, event.pid)
        if newest is None:
            return []
        who = _quoted(key)
        if event.publisher and event.pid is not None:
            who += f" (pid {event.pid})"
        if replaced is None:
            return [f"new publisher: {who}"]
        self._publishers[replaced].replaced_by = who
        note = f"publisher restarted: {who} replaced {_quoted(replaced)}"
        if seq > 1 and self._report_gaps:
            self.missed += seq - 1
            note += f"; missed {seq - 1} event(s) since it started"
        return [note]

    def _replaced_by_new(self, event: ChangeEvent) -> str | None:
        """The publisher that a new one is evidently the restart of, if any (see the class)."""
        if self._shared or self._newest is None:
            return None
        old = self._publishers[self._newest]
        same_process = event.pid is not None and event.pid == old.pid
        paused = event.timestamp - old.last_ms >= self._restart_pause_ms
        return self._newest if same_process or paused else None


def _quoted(publisher: str) -> str:
    """A publisher id as a note quotes it: it came from the wire, so escaped and cut short."""
    return printable(publisher, limit=SHOWN_PUBLISHER_CHARS)
