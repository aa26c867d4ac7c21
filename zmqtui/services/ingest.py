"""The ingest engine: takes in every message of several feeds, off the screen's event loop.

One SUB socket per feed (`[[feeds]]`, or each `--sub`), drained in batches with `NOBLOCK`
receives into bounded rings; the counters are exact. Each message is kept as it arrived
(frames, receive time in ns, its feed) and decoded only as far as the counters need (the fields
of a change event that give lag, `seq` gaps and publisher notes, with msgspec); the full decode
is done for the rows a screen shows, for the filter and for export, by the feed's topic rule and
decoders. The feeds serve one or more *streams* (what a pane lists, merged from the feeds it
lists): each has its own prefixes (a feed's socket subscribes to the union of its streams'),
filter, counters and sequence notes per feed.

`run_engine` serves the feeds and answers commands on a PAIR socket; `IngestProcess` runs it in
a child process (free of the screen's GIL, the screen keeps a core) and talks to it from
asyncio. The screen asks for a `FeedView` at most once per frame, so its work per frame is
bounded by its size, not by the message rate. With a metrics address the engine serves its
counts per feed and topic (the topics view's), with each topic's latest lag, at `/metrics`
from its own process (`zmqtui.services.feedmetrics`): no message crosses to the screen for them.

A message over a feed's size limit makes libzmq end the session for good (it does not
reconnect): a disconnection that is not followed by a reconnection attempt is counted for the
feed, reported, and its socket connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pickle
import shutil
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from zmqtui import security
from zmqtui.captures import (
    NOTHING_CAPTURED,
    NS_PER_MS,
    Capture,
    ExportResult,
    FeedState,
    FeedStatus,
    FeedView,
    RecordingStatus,
    ViewQuery,
    decoded_capture,
    export_recording,
    searchable_text,
)
from zmqtui.config import FeedConfig
from zmqtui.decoders import AUTO, DecoderMap, decode_message
from zmqtui.feedfilter import (
    NO_FILTER,
    QUERIED_FRAME_BYTES,
    FeedFilter,
    FilterError,
    parse_filter,
)
from zmqtui.feedmeta import GapTracker, MetaReader
from zmqtui.protocol import ProtocolError, decode_event
from zmqtui.recording import RecordedFeed, new_recording
from zmqtui.security.handshake import socket_event_words
from zmqtui.services import sockets
from zmqtui.services.ingest_recording import IngestRecording
from zmqtui.services.runtime_dir import clear_stale_runtime_dirs, make_runtime_dir
from zmqtui.services.subscriber import SequenceTracker, topic_for
from zmqtui.text import printable
from zmqtui.topics import TopicRule, topic_of
from zmqtui.topicstats import TopicsQuery, TopicStats

if TYPE_CHECKING:  # imported when asked for: prometheus_client would slow every start
    from zmqtui.services.metrics import MetricsAddress, MetricsServer

CAPACITY = 10_000
"""Messages each stream holds for its list, filter and export (the counts cover all)."""

RECEIVE_HWM = 100_000
"""Messages libzmq queues for the SUB socket: a burst of a second at 100k msg/s."""

BATCH = 2_000
"""Most messages taken in before commands are looked at again."""

BEHIND_AFTER_S = 1.0
"""Messages waiting without pause for this long mean the ingest cannot keep up."""


# --- what a message is taken in as --------------------------------------------------------


class _Stamp(msgspec.Struct, gc=False):
    """The fields of a change event the counters need (the rest is decoded when shown)."""

    file: str
    timestamp: int | float
    seq: int | None = None
    publisher: str | None = None
    pid: int | None = None


_decode_stamp = msgspec.json.Decoder(_Stamp).decode


def stamp_of(frames: list[bytes]) -> Any:
    """The counters' view of a change event (`seq`, `publisher`, `pid`, `timestamp`), or None
    for a message that is not one. Cheap for well-formed events; anything unusual is judged
    by `decode_event` itself, so the count of messages that are not events stays exact. A
    message of several frames is never one (and is told at once: most feeds' messages are)."""
    if len(frames) != 1:
        return None
    frame = frames[0]
    try:
        stamp = _decode_stamp(frame)
    except msgspec.DecodeError:
        if b"file" not in frame and b"\\u" not in frame:
            return None  # no `file` key, even escaped: another feed's JSON, not parsed again
    else:
        if isinstance(stamp.timestamp, int) or math.isfinite(stamp.timestamp):
            return stamp
    try:
        return decode_event(frames)
    except ProtocolError:
        return None


Held = tuple[tuple[bytes, ...], int, bool, tuple[str, ...], "Feed"]
"""A message as a stream keeps it: frames, receive time (ns), is an event, sequence notes, and
the feed it came from (which says how it is read)."""


def capture_of(held: Held | Capture, decoder: str = AUTO, *, detail: bool = False) -> Capture:
    """A held message, decoded for showing by `decoder` (else by its feed's decoders and topic
    rule) when it is not a change event, with its frames' detail when `detail` (a change event
    decoded already is shown as it is)."""
    if isinstance(held, Capture):
        return held
    frames, received_ns, is_event, notes, feed = held
    return decoded_capture(
        frames,
        received_ns,
        notes,
        feed.name,
        is_event=is_event,
        decoder=decoder,
        decoders=feed.decoders,
        rule=feed.rule,
        fields=feed.config.fields,
        detail=detail,
    )


class _Rows:
    """The newest `capacity` items, numbered absolutely from the first ever appended."""

    def __init__(self, capacity: int) -> None:
        self.items: deque[Held | Capture] = deque(maxlen=capacity)
        self.appended = 0

    @property
    def first(self) -> int:
        return self.appended - len(self.items)

    def append(self, item: Held | Capture) -> None:
        self.items.append(item)
        self.appended += 1

    def get(self, index: int) -> Held | Capture | None:
        position = index - self.first
        return self.items[position] if 0 <= position < len(self.items) else None

    def window(self, start: int, count: int) -> Iterator[Held | Capture]:
        position = start - self.first
        return islice(self.items, position, position + count)


class Stream:
    """What one pane lists of its feeds: its prefixes, its filter, its counters and notes.

    Args:
        name: how the screen asks for it ("sub", "observer").
        prefixes: what it receives of each feed (`zmqtui.services.subscriber.topic_for`
            rules); everything (`""`) means what each feed subscribes to.
        track: check `seq`, lag and publishers (the subscriber pane shows them).
        feeds: the names of the feeds it lists (None: every feed).
    """

    def __init__(
        self,
        name: str,
        prefixes: Iterable[str] = ("",),
        *,
        track: bool = True,
        capacity: int = CAPACITY,
        feeds: tuple[str, ...] | None = None,
    ) -> None:
        self.name = name
        self.track = track
        self.feed_names = feeds
        self.capacity = capacity
        self.sources: dict[str, Feed] = {}
        """The feeds that hand it messages, by name, in the order they were given."""
        self.trackers: dict[str, SequenceTracker] = {}
        """The change events' sequence notes, per feed (publishers differ from feed to feed)."""
        self.gaps = GapTracker()
        """Other messages' `seq` gaps, per feed and topic."""
        self._whole: dict[str, bool] = {}
        """Per feed: taken whole, so that a gap in `seq` means a message missed."""
        self.held = _Rows(capacity)
        """Everything the stream took in (what the filter and export look at)."""
        self.listed = self.held
        """What passes the filter: the pane's list (`held` itself while there is no filter)."""
        self.filter: FeedFilter = NO_FILTER
        self.received = self.shown = self.not_events = self.alerts = 0
        self.shown_at_least = False
        self.last_lag_ms: int | None = None
        self.max_lag_ms: int | None = None
        self.generation = 0
        self.set_prefixes(prefixes)

    def lists(self, feed: str) -> bool:
        return self.feed_names is None or feed in self.feed_names

    def list_feeds(self, feeds: tuple[str, ...] | None) -> None:
        """List `feeds` (None: every feed) from now on, its messages and counts started again:
        the feeds route messages anew (`Feed.route`)."""
        self.feed_names = feeds
        self.sources.clear()
        self._whole.clear()
        self.restart()

    def set_prefixes(self, prefixes: Iterable[str]) -> None:
        """What it receives; the feeds it lists route messages anew (`Feed.route`)."""
        self.prefixes = tuple(prefixes) or ("",)
        self.topics = tuple(topic_for(p) for p in self.prefixes)
        self.everything = b"" in self.topics
        self.generation += 1

    def attach(self, feed: Feed, whole: bool) -> None:
        """`feed` hands this stream messages, all it receives when `whole` (`seq` counts every
        event, so a prefix makes gaps that mean nothing: they are reported only then)."""
        self.sources[feed.name] = feed
        self._whole[feed.name] = whole
        self.trackers[feed.name] = SequenceTracker(report_gaps=whole)

    def source(self, name: str) -> Feed:
        """The feed called `name` (no name: the stream's) that hands this stream messages; one
        without a socket (a test's script) is made and attached the first time it is named."""
        name = name or self.name
        feed = self.sources.get(name)
        if feed is None:
            feed = Feed(FeedConfig(name=name, endpoint=name))
            feed.state = "connected"
            self.attach(feed, whole=True)
        return feed

    @property
    def missed(self) -> int:
        """Messages the publishers sent that never arrived, from every feed's `seq` gaps: the
        change events' and, per feed and topic, other messages'."""
        return sum(t.missed for t in self.trackers.values()) + self.gaps.total_missed()

    def take(
        self,
        feed: Feed,
        frames: list[bytes],
        received_ns: int,
        stamp: Any,
        topic: bytes | None = None,
        meta: tuple[int | None, int | None] | None = None,
    ) -> int:
        """One message `feed` received for this stream (a change event's `stamp`, or another
        message's `topic` and `meta`: send time and sequence number, read for a stream that
        tracks them); how many its `seq` says were missed before it."""
        self.received += 1
        notes: tuple[str, ...] = ()
        missed = 0
        if stamp is None:
            self.not_events += 1
            if self.track and meta is not None:
                sent_ns, seq = meta
                if sent_ns is not None:
                    self._lagged((received_ns - sent_ns) // NS_PER_MS)
                if seq is not None and (gap := self.gaps.observe((feed.name, topic), seq)):
                    notes = (gap.note(self._where(feed, topic)),)
                    self.alerts += 1
                    missed = gap.missed
        elif self.track:
            received_ms = received_ns // NS_PER_MS
            self._lagged(received_ms - int(stamp.timestamp))
            tracker = self.trackers[feed.name]
            before = tracker.missed
            found = tracker.observe(stamp, received_ms)
            if found:
                notes = tuple(found)
                self.alerts += len(notes)
                missed = tracker.missed - before
        self._keep((tuple(frames), received_ns, stamp is not None, notes, feed))
        return missed

    def _where(self, feed: Feed, topic: bytes | None) -> str:
        """A topic as a gap note names it, with its feed when the stream lists several."""
        where = "the feed" if topic is None else topic.decode("utf-8", "backslashreplace")
        return printable(f"{where} of {feed.name}" if len(self.sources) > 1 else where)

    def add_capture(self, capture: Capture) -> None:
        """A message decoded elsewhere (a test's script), kept with its notes as they are; one
        that is not a change event is kept as its frames, to be decoded as the socket's are."""
        self.received += 1
        feed = self.source(capture.feed)
        feed.received += 1
        if capture.event is None:
            self.not_events += 1
            self._keep((capture.frames, capture.received_ns, False, capture.notes, feed))
            return
        capture.feed = feed.name
        self._lagged(capture.received_ms - capture.event.timestamp)
        self.alerts += len(capture.notes)
        self._keep(capture)

    def _lagged(self, lag: int) -> None:
        self.last_lag_ms = lag
        if self.max_lag_ms is None or lag > self.max_lag_ms:
            self.max_lag_ms = lag

    def _keep(self, held: Held | Capture) -> None:
        self.generation += 1
        rows = self.held
        rows.items.append(held)
        rows.appended += 1
        if self.listed is rows:  # no filter: the list is everything held
            self.shown += 1
        elif self._passes(held):
            self.listed.append(held)
            self.shown += 1

    def _passes(self, held: Held | Capture) -> bool:
        """Whether `held` passes the filter: text and regex search what its row shows; a field
        query looks into its payload decoded by its feed's rule and decoders, and at its feed's
        name and topic."""
        if self.filter.kind != "query":
            return self.filter.matches_text(searchable_text(capture_of(held)))
        if isinstance(held, Capture):
            frames, feed = held.frames, self.source(held.feed)
        else:
            frames, feed = held[0], held[4]
        if not self.filter.matches_meta(feed.name, topic_of(frames, feed.rule)):
            return False
        if not self.filter.reads_payload:
            return True
        message = decode_message(frames, feed.rule, feed.decoders, skip_over=QUERIED_FRAME_BYTES)
        return self.filter.matches(feed.name, message)

    def set_filter(self, expression: str) -> None:
        """List only what matches (`zmqtui.feedfilter`: text, `/regex/` or a field query; one
        that cannot be read lists everything: the screen says so and never sends it)."""
        try:
            self.filter = parse_filter(expression)
        except FilterError:
            self.filter = NO_FILTER
        numbered = self.listed.appended  # the list's row numbers only ever grow
        if self.filter.active:
            listed = _Rows(self.capacity)
            listed.appended = numbered
            for held in self.held.items:
                if self._passes(held):
                    listed.append(held)
            self.listed = listed
            self.shown = len(listed.items)
            self.shown_at_least = len(self.held.items) < self.received
        else:
            self.held.appended = max(self.held.appended, numbered + len(self.held.items))
            self.listed = self.held
            self.shown, self.shown_at_least = self.received, False
        self.generation += 1

    def restart(self) -> None:
        """Forget every message and count, keeping prefixes, filter and decoders: a playback
        going back in its recording takes its messages in again from the start."""
        self.held = self.listed = _Rows(self.capacity)
        if self.filter.active:
            self.listed = _Rows(self.capacity)
        self.received = self.shown = self.not_events = self.alerts = 0
        self.shown_at_least = False
        self.last_lag_ms = self.max_lag_ms = None
        self.trackers = {name: SequenceTracker(report_gaps=w) for name, w in self._whole.items()}
        self.gaps = GapTracker()
        self.generation += 1

    def clear(self) -> None:
        """Forget the messages held; `received` and the alerts stay (totals since start),
        `shown` counts what the list shows, so it starts again from 0."""
        self.held.items.clear()
        self.listed.items.clear()
        self.shown, self.shown_at_least = 0, False
        self.generation += 1

    def view(self, query: ViewQuery, behind_s: float = 0.0) -> FeedView:
        listed = self.listed
        count = max(0, query.count)
        start = listed.appended - count if query.start is None else query.start
        start = max(start, listed.first)
        chosen = dict(query.decoders)
        rows = [
            capture_of(held, chosen.get(index, AUTO))
            for index, held in enumerate(listed.window(start, count), start)
        ]
        index = listed.appended - 1 if query.selected is None else query.selected
        held = listed.get(index)
        selected = None
        if held is not None:
            selected = capture_of(held, chosen.get(index, AUTO), detail=True)
        return FeedView(
            stream=self.name,
            received=self.received,
            first=listed.first,
            appended=listed.appended,
            rows_start=start,
            rows=rows,
            selected=selected,
            selected_index=None if selected is None else index,
            shown=self.shown,
            shown_at_least=self.shown_at_least,
            not_events=self.not_events,
            alerts=self.alerts,
            last_lag_ms=self.last_lag_ms,
            max_lag_ms=self.max_lag_ms,
            dropped=self.missed,
            behind_s=behind_s,
            generation=self.generation,
            feeds=tuple(feed.status() for feed in self.sources.values()),
        )

    def export(self, directory: Path, now: float) -> ExportResult:
        """What the stream holds (whatever the filter lists) as a recording in `directory`,
        each message under its feed's name."""
        messages = [
            (held.received_ns, held.feed, held.frames)
            if isinstance(held, Capture)
            else (held[1], held[4].name, held[0])
            for held in self.held.items
        ]
        if not messages:
            return ExportResult(None, 0, self.received, NOTHING_CAPTURED)
        feeds = [
            RecordedFeed(
                feed.name,
                feed.endpoint,
                feed.config.subscribe if self.everything else self.prefixes,
                feed.rule,
            )
            for feed in self.sources.values()
        ]
        try:
            path = export_recording(messages, feeds, directory, now)
        except OSError as exc:
            return ExportResult(None, 0, self.received, f"export failed: {exc}")
        return ExportResult(path, len(messages), self.received)


class _Route:
    """Where a feed hands a message: a stream, and the topics it takes of this feed."""

    __slots__ = ("everything", "stream", "topics", "track")

    def __init__(self, stream: Stream, topics: tuple[bytes, ...]) -> None:
        self.stream = stream
        self.topics = topics
        self.everything = b"" in topics
        self.track = stream.track


class Feed:
    """One feed's messages (one SUB socket's), handed to every stream that lists the feed and
    wants each; counted per topic in `topic_stats` (the topics view's and `/metrics`' counts,
    shared by the engine's feeds), with each topic's latest change event when `metered`.

    Args:
        config: the endpoint, subscriptions, topic rule, decoders (the `[decoders]` table's
            merged in already), largest message and meta fields of the feed.
        streams: the streams that may list it (each says whether it does, `Stream.lists`).
    """

    def __init__(
        self,
        config: FeedConfig,
        streams: Iterable[Stream] = (),
        topic_stats: TopicStats | None = None,
        *,
        metered: bool = False,
    ) -> None:
        self.config = config
        self.topic_stats = TopicStats() if topic_stats is None else topic_stats
        self.name = config.name
        self.endpoint = config.endpoint
        self.rule: TopicRule = config.topic
        self.decoders = DecoderMap(config.decoders)
        self.metered = metered
        """`/metrics` is served: keep each topic's latest change event, for its lag."""
        self.subscriptions = tuple(t.encode("utf-8", "surrogatepass") for t in config.subscribe)
        """The raw ZeroMQ prefixes the feed's config subscribes to."""
        self.state: FeedState = "connecting"
        self.detail = ""
        self.received = 0
        self.given_up = 0
        """Connections libzmq ended for good (a message too large) and the feed made again."""
        self.recording: IngestRecording | None = None
        """Set while the engine records: every message the socket receives is written."""
        self.read_meta = MetaReader(config.fields).read
        """Another message's send time and `seq`, from the fields the config names."""
        self._routes: tuple[_Route, ...] = ()
        self.route(streams)

    def route(self, streams: Iterable[Stream]) -> None:
        """Hand messages to `streams` (those that list this feed), each taking the topics its
        prefixes select, or all the feed subscribes to when it takes everything."""
        routes = []
        for stream in streams:
            if not stream.lists(self.name):
                continue
            route = _Route(stream, self.subscriptions if stream.everything else stream.topics)
            stream.attach(self, route.everything)
            routes.append(route)
        self._routes = tuple(routes)

    def missed(self) -> int:
        """Messages the tracking streams' `seq` says were missed (the screen's `dropped`)."""
        return max(
            (r.stream.trackers[self.name].missed for r in self._routes if r.stream.track),
            default=0,
        )

    def topics(self) -> set[bytes]:
        """What the socket subscribes to: the union of the routes' topics, and while recording
        everything the feed subscribes to, whatever the panes list."""
        topics = {t for route in self._routes for t in route.topics}
        if self.recording is not None:
            topics.update(self.subscriptions)
        return {b""} if b"" in topics else topics

    def recorded(self) -> RecordedFeed:
        """The feed as a recording's header names it."""
        return RecordedFeed(self.name, self.endpoint, self.config.subscribe, self.rule)

    def status(self) -> FeedStatus:
        return FeedStatus(
            self.name,
            self.endpoint,
            self.state,
            self.detail,
            self.received,
            self.given_up,
            self.config.max_message_bytes,
        )

    def take(self, frames: list[bytes], received_ns: int) -> None:
        """One message the feed's socket received."""
        self.received += 1
        if self.recording is not None:
            self.recording.write(received_ns, self.name, frames)
        stamp = stamp_of(frames)
        topic = topic_of(frames, self.rule)
        size = len(frames[0]) if len(frames) == 1 else sum(map(len, frames))
        counter = self.topic_stats.count(self.name, topic, size, received_ns)
        if self.metered and stamp is not None:  # the latest change event, for its lag at /metrics
            counter.event_ns = received_ns
            counter.sent_ms = stamp.timestamp
        meta = None
        unread = stamp is None  # a change event's stamp has its seq and time already
        for route in self._routes:
            if route.everything or frames[0].startswith(route.topics):
                if unread and route.track:  # read once, for the first stream that tracks them
                    unread = False
                    # a single frame's payload follows its topic word
                    start = len(topic) + 1 if topic is not None and len(frames) == 1 else 0
                    meta = self.read_meta(frames, start)
                missed = route.stream.take(self, frames, received_ns, stamp, topic, meta)
                if missed:
                    self.topic_stats.count_missed(self.name, topic, missed)


# --- the engine -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A stream to serve: its name, prefixes, whether it tracks `seq` and lag, and the names
    of the feeds it lists (None: every feed)."""

    name: str
    prefixes: tuple[str, ...] = ("",)
    track: bool = True
    feeds: tuple[str, ...] | None = None


def _why(subscription: _Subscription, event: int, value: int) -> str:
    """A failed handshake's reason in plain words ("the server's key does not match"), for the
    feed's state and the socket-events log; "" for any other event."""
    curve_client = subscription.sock.getsockopt(zmq.MECHANISM) == zmq.CURVE
    words = socket_event_words(event, value, curve_client=curve_client)
    return words[1] if words is not None else ""


class _Subscription:
    """A feed's SUB socket, its monitor and the watch that tells a connection given up."""

    def __init__(self, feed: Feed, sock: zmq.Socket, monitor: zmq.Socket) -> None:
        self.feed = feed
        self.sock = sock
        self.monitor = monitor
        self.session = sockets.SessionWatch()

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self.sock.disable_monitor()
        self.monitor.close(linger=0)
        self.sock.close(linger=0)


class Engine:
    """Serves several feeds on `ctx` (one SUB socket each) and answers the commands of
    `control` (a connected PAIR).

    Commands are pickled tuples `(name, *args)`, each answered by the method `command_<name>`
    (a new command is one more such method): `("view", stream, ViewQuery)`,
    `("prefixes", stream, prefixes)`, `("listed_feeds", stream, feeds)`,
    `("filter", stream, expression)`, `("clear", stream)`,
    `("export", stream, dir, now, id)`, `("record", dir, now, compressed, id)`,
    `("record_stop",)`, `("topics", TopicsQuery)`, `("stop",)`. Answers and reports:
    `("view", FeedView)`, `("topics", TopicsView)` (every feed's counts per topic),
    `("exported", id, ExportResult)`, `("recording", RecordingStatus)` (a few times a second
    while recording, and when it ends), `("state", feed, state, endpoint, detail)`,
    `("problem", text, severity)`, `("metrics", url)` (where `/metrics` is served, with
    `metrics`).
    """

    def __init__(
        self,
        ctx: zmq.Context,
        control: zmq.Socket,
        feeds: Iterable[FeedConfig],
        streams: Iterable[StreamSpec],
        *,
        capacity: int = CAPACITY,
        metrics: MetricsAddress | None = None,
    ) -> None:
        self.ctx = ctx
        self.control = control
        self.metrics = metrics
        self.streams = {
            s.name: Stream(s.name, s.prefixes, track=s.track, capacity=capacity, feeds=s.feeds)
            for s in streams
        }
        self.topic_stats = TopicStats()
        self.feeds = [
            Feed(config, self.streams.values(), self.topic_stats, metered=metrics is not None)
            for config in feeds
        ]
        self._subscriptions: list[_Subscription] = []
        self.recording: IngestRecording | None = None
        """What `record` writes every feed's messages to, until `record_stop`."""
        self._busy_since: float | None = None
        self._running = True

    def behind_s(self) -> float:
        if self._busy_since is None:
            return 0.0
        busy = time.monotonic() - self._busy_since
        return busy if busy >= BEHIND_AFTER_S else 0.0

    def _send(self, *message: object) -> None:
        with contextlib.suppress(zmq.Again):
            self.control.send(pickle.dumps(message, pickle.HIGHEST_PROTOCOL), zmq.NOBLOCK)

    def _set_state(self, feed: Feed, state: FeedState, detail: str = "") -> None:
        feed.state, feed.detail = state, detail
        self._send("state", feed.name, state, feed.endpoint, detail)

    def _open(self, feed: Feed) -> _Subscription | None:
        """The feed's socket, connected; None (told as a problem) when it cannot be."""
        sock = self.ctx.socket(zmq.SUB)
        sockets.configure(sock, max_message_bytes=feed.config.max_message_bytes)
        sock.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
        subscription = _Subscription(feed, sock, sock.get_monitor_socket(sockets.STATE_EVENTS))
        for topic in feed.topics():
            sock.subscribe(topic)
        self._set_state(feed, "connecting")
        try:
            sockets.connect(sock, feed.endpoint, curve=security.curve_for_feed(feed.config))
        except (zmq.ZMQError, sockets.EndpointError, ValueError, OSError) as exc:
            subscription.close()
            self._set_state(feed, "failed", str(exc))
            self._send("problem", f"cannot subscribe to {feed.endpoint}: {exc}", "error")
            return None
        return subscription

    def run(self, parent: int | None = None) -> None:
        """Until told to stop (or, with `parent`, a file descriptor, until it closes)."""
        server = self._serve_metrics()
        try:
            self._run(parent)
        finally:
            if server is not None:
                server.close()

    def _serve_metrics(self) -> MetricsServer | None:
        """`/metrics` from this engine's counters, on a thread of its own; told to the screen
        as `("metrics", url)`, or as a problem when the address cannot be bound."""
        if self.metrics is None or not self.feeds:
            return None
        from zmqtui.services.feedmetrics import FeedMetrics
        from zmqtui.services.metrics import MetricsServer

        collector = FeedMetrics(
            self.topic_stats, [(f.endpoint, f.name, f.missed) for f in self.feeds], self.behind_s
        )
        try:
            server = MetricsServer(self.metrics, collector)
        except sockets.EndpointError as exc:
            self._send("problem", str(exc), "error")
            return None
        self._send("metrics", server.url)
        return server

    def _run(self, parent: int | None) -> None:
        poller = zmq.Poller()
        poller.register(self.control, zmq.POLLIN)
        if parent is not None:
            poller.register(parent, zmq.POLLIN)
        try:
            for feed in self.feeds:
                subscription = self._open(feed)
                if subscription is not None:
                    self._subscriptions.append(subscription)
                    poller.register(subscription.sock, zmq.POLLIN)
                    poller.register(subscription.monitor, zmq.POLLIN)
            self._serve(poller, parent)
        finally:
            self.command_record_stop()  # the file ends whole, whatever ended the engine
            for subscription in self._subscriptions:
                subscription.close()

    def _serve(self, poller: zmq.Poller, parent: int | None) -> None:
        recv = sockets.recv_nowait
        clock = time.time_ns
        while self._running:
            timeout = 0 if self._busy_since is not None else 100
            ready = dict(poller.poll(timeout))
            busy = False
            for subscription in self._subscriptions:
                sock, take = subscription.sock, subscription.feed.take
                taken = 0
                while taken < BATCH:
                    try:
                        frames = recv(sock)
                    except zmq.Again:
                        break
                    take(frames, clock())
                    taken += 1
                busy = busy or taken == BATCH
                if subscription.monitor in ready:
                    self._watch(subscription)
                if subscription.session.given_up():
                    self._reconnect(subscription)
            self.topic_stats.sample(clock())
            if busy:
                if self._busy_since is None:
                    self._busy_since = time.monotonic()
            else:
                self._busy_since = None
            if self.recording is not None and self.recording.due():
                self._report_recording()
            if self.control in ready:
                self._answer()
            if parent is not None and parent in ready and not os.read(parent, 4096):
                return  # the screen's process is gone

    def _reconnect(self, subscription: _Subscription) -> None:
        """libzmq gave the connection up (a message over the feed's limit): count it, say so
        and connect again."""
        feed = subscription.feed
        feed.given_up += 1
        text = sockets.given_up_text(feed.endpoint, feed.config.max_message_bytes)
        self._send("problem", text if feed.name == feed.endpoint else f"{feed.name}: {text}")
        try:
            sockets.reconnect(subscription.sock, feed.endpoint)
        except sockets.EndpointError as exc:
            self._set_state(feed, "failed", str(exc))

    def _watch(self, subscription: _Subscription) -> None:
        for frames in sockets.queued_messages(subscription.monitor, 100):
            event = parse_monitor_message(frames)
            kind = event["event"]
            subscription.session.saw(kind)
            state = sockets.CONNECTION_STATES.get(kind)
            if state is not None:
                self._set_state(subscription.feed, state, _why(subscription, kind, event["value"]))

    def _answer(self) -> None:
        while True:
            try:
                command = pickle.loads(self.control.recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            name, *args = command
            handler = getattr(self, f"command_{name}", None)
            if handler is not None:
                handler(*args)

    # --- commands (`("name", *args)` is answered by `command_name(*args)`) ----------------

    def command_stop(self) -> None:
        self._running = False

    def command_view(self, stream: str, query: ViewQuery) -> None:
        if found := self.streams.get(stream):
            self._send("view", found.view(query, self.behind_s()))

    def command_topics(self, query: TopicsQuery) -> None:
        self._send("topics", self.topic_stats.view(query))

    def command_prefixes(self, stream: str, prefixes: tuple[str, ...]) -> None:
        if found := self.streams.get(stream):
            self._reroute(lambda: found.set_prefixes(prefixes))

    def _reroute(self, change: Callable[[], object]) -> None:
        """Make `change` to a stream, then route every feed's messages anew and subscribe each
        socket to what its feed then wants."""
        before = self._topics()
        change()
        for feed in self.feeds:
            feed.route(self.streams.values())
        self._resubscribe(before)

    def _topics(self) -> dict[int, set[bytes]]:
        """What each feed's socket subscribes to now, by `id` of the feed."""
        return {id(feed): feed.topics() for feed in self.feeds}

    def _resubscribe(self, before: dict[int, set[bytes]]) -> None:
        """Subscribe each socket to what its feed now wants and did not, unsubscribe it from
        what its feed no longer wants (`before`: from `_topics`)."""
        for subscription in self._subscriptions:
            old, new = before[id(subscription.feed)], subscription.feed.topics()
            for topic in new - old:
                subscription.sock.subscribe(topic)
            for topic in old - new:
                subscription.sock.unsubscribe(topic)

    def command_listed_feeds(self, stream: str, feeds: tuple[str, ...] | None) -> None:
        """`stream` lists `feeds` (None: every feed) from now on, started again; each socket
        subscribes to what its feed's streams then take."""
        if found := self.streams.get(stream):
            self._reroute(lambda: found.list_feeds(feeds))

    def command_filter(self, stream: str, expression: str) -> None:
        if found := self.streams.get(stream):
            found.set_filter(expression)

    def command_clear(self, stream: str) -> None:
        if found := self.streams.get(stream):
            found.clear()

    def command_export(self, stream: str, directory: str, now: float, export_id: int) -> None:
        if found := self.streams.get(stream):
            self._send("exported", export_id, found.export(Path(directory), now))

    def command_record(self, directory: str, now: float, compressed: bool, record_id: int) -> None:
        """Record every message of every feed from now on (each socket subscribes to all its
        feed subscribes to) to a new `zmqtui-recording-<time>.jsonl[.zst]` in `directory`."""
        if self.recording is not None:  # already recording: say where
            self._report_recording()
            return
        feeds = [feed.recorded() for feed in self.feeds]
        try:
            writer = new_recording(
                Path(directory), "zmqtui-recording", now, feeds, compressed=compressed
            )
        except (OSError, ValueError) as exc:
            why = f"cannot record to {directory}: {getattr(exc, 'strerror', None) or exc}"
            self._send("recording", RecordingStatus(record_id, None, done=True, error=why))
            return
        before = self._topics()
        self.recording = IngestRecording(writer, record_id)
        for feed in self.feeds:
            feed.recording = self.recording
        self._resubscribe(before)
        self._report_recording()

    def command_record_stop(self) -> None:
        """End the recording, if any: close its file, subscribe as before, say what it holds."""
        recording = self.recording
        if recording is None:
            return
        before = self._topics()
        self.recording = None
        for feed in self.feeds:
            feed.recording = None
        self._resubscribe(before)
        self._send("recording", recording.finish())

    def _report_recording(self) -> None:
        recording = self.recording
        if recording is not None:
            self._send("recording", recording.report())
            if recording.error is not None:
                self.command_record_stop()


def run_engine(
    control: str, settings: tuple[Any, ...], parent: int | None = None, serve: Serve | None = None
) -> None:
    """Serve the feeds `settings` describe (see `IngestProcess`), answering on `control`, until
    told to stop or, with `parent` (a file descriptor), until it closes; `serve` runs another
    engine (a playback's) on the same terms."""
    ctx = zmq.Context()
    pair = ctx.socket(zmq.PAIR)
    pair.setsockopt(zmq.LINGER, 0)
    try:
        pair.connect(control)
        (serve or _serve)(ctx, pair, settings, parent)
    finally:
        pair.close(linger=0)
        ctx.destroy(linger=0)


def _serve(
    ctx: zmq.Context, pair: zmq.Socket, settings: tuple[Any, ...], parent: int | None
) -> None:
    feeds, specs, capacity, metrics = settings
    engine = Engine(ctx, pair, feeds, specs, capacity=capacity, metrics=metrics)
    pair.send(pickle.dumps(("ready",)))
    engine.run(parent)


Serve = Callable[[zmq.Context, zmq.Socket, tuple[Any, ...], "int | None"], None]
"""Builds an engine from its settings and runs it: `_serve`, or a playback's."""


# --- the screen's side ------------------------------------------------------------------------


class IngestProcess:
    """Runs the engine for its feeds in a child process (or a thread), from asyncio.

    `send` a command at any time; `replies` yields what the engine sends back. `stop` ends the
    child and removes its private directory. The child also ends when this process does: it
    watches a pipe whose other end only this process holds.
    """

    module = "zmqtui.services.ingest"
    """What the child runs (`python -m`): its `_main` reads the settings and serves them."""
    serve: Serve = staticmethod(_serve)
    """What a thread runs (`thread=True`) with the same settings."""

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        feeds: Iterable[FeedConfig],
        streams: Iterable[StreamSpec],
        *,
        capacity: int = CAPACITY,
        metrics: MetricsAddress | None = None,
        thread: bool = False,
    ) -> None:
        self.ctx = ctx
        self.settings = (tuple(feeds), tuple(streams), capacity, metrics)
        self.thread = thread
        self.process: subprocess.Popen[bytes] | None = None
        self._runner: asyncio.Future[None] | None = None
        self._dir: Path | None = None
        self._pair: zmq.asyncio.Socket | None = None
        self._pending: list[tuple[object, ...]] | None = []
        """Commands sent before the engine said it is ready."""

    def start(self) -> None:
        self._pair = self.ctx.socket(zmq.PAIR)
        self._pair.setsockopt(zmq.LINGER, 0)
        self._pair.setsockopt(zmq.SNDHWM, 10_000)
        if self.thread:
            address = f"inproc://zmqtui-ingest-{id(self)}"
            self._pair.bind(address)
            loop = asyncio.get_running_loop()
            self._runner = loop.run_in_executor(
                None, _run_in_thread, self.ctx, address, self.settings, self.serve
            )
        else:
            clear_stale_runtime_dirs()
            self._dir = make_runtime_dir()  # named after the monitor: cleared if it is killed
            address = f"ipc://{self._dir}/control"
            self._pair.bind(address)
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, address],
                stdin=subprocess.PIPE,
                start_new_session=True,  # the terminal's Ctrl-C is the screen's to handle
            )
            assert self.process.stdin is not None
            # with the CURVE keys this process uses (`--config` included): a private pipe
            profile = security.active_profile()
            self.process.stdin.write(pickle.dumps((*self.settings, profile)))
            self.process.stdin.flush()

    def send(self, *command: object) -> None:
        """Hand the engine a command; those sent before it is ready wait for it."""
        if self._pair is None:
            return
        if self._pending is not None:
            self._pending.append(command)
            return
        with contextlib.suppress(zmq.Again, zmq.ZMQError):
            self._pair.send(pickle.dumps(command, pickle.HIGHEST_PROTOCOL), zmq.NOBLOCK)

    async def replies(self) -> Any:
        """The engine's next answer or report (a tuple, see `Engine`)."""
        assert self._pair is not None, "not started"
        reply = pickle.loads(await self._pair.recv())
        if reply == ("ready",) and self._pending is not None:
            pending, self._pending = self._pending, None
            for command in pending:
                self.send(*command)
        return reply

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return self._runner is not None and not self._runner.done()

    def kill(self) -> None:
        """End the child at once (the screen's process is about to end without its loop)."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def stop(self) -> None:
        if self._pending is None:
            self.send("stop")
        process, self.process = self.process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), 2.0)
            except TimeoutError:
                process.kill()
                await asyncio.to_thread(process.wait)
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._runner, 2.0)
            self._runner = None
        if self._pair is not None:
            self._pair.close(linger=0)
            self._pair = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _run_in_thread(
    ctx: zmq.asyncio.Context, control: str, settings: tuple[Any, ...], serve: Serve = _serve
) -> None:
    """The engine on a thread of this process, on the caller's Context (for `inproc://`)."""
    plain = zmq.Context.shadow(ctx.underlying)
    pair = plain.socket(zmq.PAIR)
    pair.setsockopt(zmq.LINGER, 0)
    try:
        pair.connect(control)
        serve(plain, pair, settings, None)
    finally:
        pair.close(linger=0)


def _main(control: str) -> None:
    """The child process: settings and the parent's CURVE profile come on stdin."""
    *settings, profile = pickle.load(sys.stdin.buffer)
    security.use_profile(profile)
    run_engine(control, tuple(settings), parent=sys.stdin.fileno())


if __name__ == "__main__":
    _main(sys.argv[1])
