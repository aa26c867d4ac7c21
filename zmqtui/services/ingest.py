"""The ingest engine: takes in every message of a feed, off the screen's event loop.

One SUB socket per feed, drained in batches with `NOBLOCK` receives into bounded rings; the
counters are exact. Each message is kept as it arrived (frames, receive time in ns) and
decoded only as far as the counters need (the fields of a change event that give lag, `seq`
gaps and publisher notes, with msgspec); the full decode is done for the rows a screen shows,
for the filter and for export. A feed serves one or more *streams* (what a pane lists): each
has its own prefixes (the socket subscribes to their union), filter, counters and sequence
notes.

`run_engine` serves the feed and answers commands on a PAIR socket; `IngestProcess` runs it in
a child process (free of the screen's GIL, the screen keeps a core) and talks to it from
asyncio. The screen asks for a `FeedView` at most once per frame, so its work per frame is
bounded by its size, not by the message rate. With a metrics address the engine also counts
messages, bytes and lag per topic and serves them at `/metrics` from its own process
(`zmqtui.services.feedmetrics`): no message crosses to the screen for them.

A message over the socket's size limit makes libzmq end the session for good (it does not
reconnect): a disconnection that is not followed by a reconnection attempt is reported and the
socket connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pickle
import re
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
    CaptureFilter,
    ExportResult,
    FeedView,
    ViewQuery,
    decoded_capture,
    export_recording,
)
from zmqtui.decoders import AUTO, NO_OVERRIDES, DecoderMap
from zmqtui.protocol import MAX_MESSAGE_BYTES, ProtocolError, decode_event
from zmqtui.recording import RecordedFeed
from zmqtui.services import sockets
from zmqtui.services.runtime_dir import clear_stale_runtime_dirs, make_runtime_dir
from zmqtui.services.subscriber import SequenceTracker, topic_for

if TYPE_CHECKING:  # imported when asked for: prometheus_client would slow every start
    from zmqtui.services.feedmetrics import TopicCounts
    from zmqtui.services.metrics import MetricsAddress, MetricsServer

CAPACITY = 10_000
"""Messages each stream holds for its list, filter and export (the counts cover all)."""

RECEIVE_HWM = 100_000
"""Messages libzmq queues for the SUB socket: a burst of a second at 100k msg/s."""

BATCH = 2_000
"""Most messages taken in before commands are looked at again."""

BEHIND_AFTER_S = 1.0
"""Messages waiting without pause for this long mean the ingest cannot keep up."""

_MONITOR_EVENTS = (
    sockets.WATCHED_EVENTS
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)
_STATES = {
    zmq.EVENT_HANDSHAKE_SUCCEEDED: "connected",
    zmq.EVENT_CONNECT_RETRIED: "retrying",
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "failed",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "failed",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "failed",
}


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
    by `decode_event` itself, so the count of messages that are not events stays exact."""
    if len(frames) == 1:
        try:
            stamp = _decode_stamp(frames[0])
        except msgspec.DecodeError:
            pass
        else:
            if isinstance(stamp.timestamp, int) or math.isfinite(stamp.timestamp):
                return stamp
    try:
        return decode_event(frames)
    except ProtocolError:
        return None


Held = tuple[tuple[bytes, ...], int, bool, tuple[str, ...]]
"""A message as a stream keeps it: frames, receive time (ns), is an event, sequence notes."""


def capture_of(
    held: Held | Capture,
    feed: str = "",
    decoder: str = AUTO,
    *,
    decoders: DecoderMap = NO_OVERRIDES,
    detail: bool = False,
) -> Capture:
    """A held message, decoded for showing by `decoder` (or `decoders` by topic) when it is
    not a change event, with its frames' detail when `detail` (a change event decoded already
    is shown as it is)."""
    if isinstance(held, Capture):
        return held
    frames, received_ns, is_event, notes = held
    return decoded_capture(
        frames,
        received_ns,
        notes,
        feed,
        is_event=is_event,
        decoder=decoder,
        decoders=decoders,
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
    """What one pane lists of a feed: its prefixes, its filter, its counters and notes.

    Args:
        name: how the screen asks for it ("sub", "observer").
        prefixes: what it receives (`zmqtui.services.subscriber.topic_for` rules).
        track: check `seq`, lag and publishers (the subscriber pane shows them).
        decoders: the decoder named for a topic's prefix (else each frame's fitting one).
    """

    def __init__(
        self,
        name: str,
        prefixes: Iterable[str] = ("",),
        *,
        track: bool = True,
        capacity: int = CAPACITY,
        feed: str = "",
        decoders: DecoderMap = NO_OVERRIDES,
    ) -> None:
        self.name = name
        self.track = track
        self.feed = feed
        self.decoders = decoders
        self.capacity = capacity
        self.held = _Rows(capacity)
        """Everything the stream took in (what the filter and export look at)."""
        self.listed = self.held
        """What passes the filter: the pane's list (`held` itself while there is no filter)."""
        self.filter = CaptureFilter()
        self.received = self.shown = self.not_events = self.alerts = 0
        self.shown_at_least = False
        self.last_lag_ms: int | None = None
        self.max_lag_ms: int | None = None
        self.generation = 0
        self.set_prefixes(prefixes)

    def set_prefixes(self, prefixes: Iterable[str]) -> None:
        self.prefixes = tuple(prefixes) or ("",)
        self.topics = tuple(topic_for(p) for p in self.prefixes)
        self.everything = b"" in self.topics
        # seq counts every event, so a prefix filter makes gaps that mean nothing
        self.tracker = SequenceTracker(report_gaps=self.everything)
        self.generation += 1

    def wants(self, frames: list[bytes]) -> bool:
        return self.everything or (bool(frames) and frames[0].startswith(self.topics))

    def take(self, frames: list[bytes], received_ns: int, stamp: Any) -> None:
        """One message the socket received for this stream."""
        self.received += 1
        notes: tuple[str, ...] = ()
        if stamp is None:
            self.not_events += 1
        elif self.track:
            received_ms = received_ns // NS_PER_MS
            self._lagged(received_ms - int(stamp.timestamp))
            found = self.tracker.observe(stamp, received_ms)
            if found:
                notes = tuple(found)
                self.alerts += len(notes)
        self._keep((tuple(frames), received_ns, stamp is not None, notes))

    def add_capture(self, capture: Capture) -> None:
        """A message decoded elsewhere (a test's script), kept with its notes as they are; one
        that is not a change event is kept as its frames, to be decoded as the socket's are."""
        self.received += 1
        if capture.event is None:
            self.not_events += 1
            self._keep((capture.frames, capture.received_ns, False, capture.notes))
            return
        self._lagged(capture.received_ms - capture.event.timestamp)
        self.alerts += len(capture.notes)
        self._keep(capture)

    def _capture(
        self, held: Held | Capture, decoder: str = AUTO, *, detail: bool = False
    ) -> Capture:
        """`held` decoded for showing, with this stream's feed and decoders."""
        return capture_of(held, self.feed, decoder, decoders=self.decoders, detail=detail)

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
        elif self.filter.matches(self._capture(held)):
            self.listed.append(held)
            self.shown += 1

    def set_filter(self, expression: str) -> None:
        """List only what matches (an invalid regex lists everything: the screen says so)."""
        try:
            self.filter = CaptureFilter(expression)
        except re.error:
            self.filter = CaptureFilter()
        numbered = self.listed.appended  # the list's row numbers only ever grow
        if self.filter.active:
            listed = _Rows(self.capacity)
            listed.appended = numbered
            for held in self.held.items:
                if self.filter.matches(self._capture(held)):
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
        self.tracker = SequenceTracker(report_gaps=self.everything)
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
            self._capture(held, chosen.get(index, AUTO))
            for index, held in enumerate(listed.window(start, count), start)
        ]
        index = listed.appended - 1 if query.selected is None else query.selected
        held = listed.get(index)
        selected = None
        if held is not None:
            selected = self._capture(held, chosen.get(index, AUTO), detail=True)
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
            dropped=self.tracker.missed,
            behind_s=behind_s,
            generation=self.generation,
        )

    def export(self, directory: Path, now: float) -> ExportResult:
        """What the stream holds (whatever the filter lists) as a recording in `directory`."""
        name = self.feed or self.name
        messages = [
            (held.received_ns, name, held.frames)
            if isinstance(held, Capture)
            else (held[1], name, held[0])
            for held in self.held.items
        ]
        if not messages:
            return ExportResult(None, 0, self.received, NOTHING_CAPTURED)
        feed = RecordedFeed(name, self.feed, self.prefixes)
        try:
            path = export_recording(messages, feed, directory, now)
        except OSError as exc:
            return ExportResult(None, 0, self.received, f"export failed: {exc}")
        return ExportResult(path, len(messages), self.received)


class Feed:
    """One endpoint's messages, handed to every stream that wants each (and, with `counts`,
    counted per topic for `/metrics`)."""

    def __init__(
        self, endpoint: str, streams: Iterable[Stream], counts: TopicCounts | None = None
    ) -> None:
        self.endpoint = endpoint
        self.streams = {stream.name: stream for stream in streams}
        self._streams = tuple(self.streams.values())
        self.counts = counts

    def missed(self) -> int:
        """Messages the tracking streams' `seq` says were missed (the screen's `dropped`)."""
        return max((s.tracker.missed for s in self._streams if s.track), default=0)

    def topics(self) -> set[bytes]:
        """What the socket subscribes to: the union of the streams' prefixes."""
        topics = {t for s in self.streams.values() for t in s.topics}
        return {b""} if b"" in topics else topics

    def take(self, frames: list[bytes], received_ns: int) -> None:
        stamp = stamp_of(frames)
        if self.counts is not None:
            self.counts.count(frames, received_ns, stamp)
        for stream in self._streams:
            if stream.everything or stream.wants(frames):
                stream.take(frames, received_ns, stamp)


# --- the engine -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A stream to serve: its name, prefixes, whether it tracks `seq` and lag, and the
    decoders named per topic prefix (the `[decoders]` table)."""

    name: str
    prefixes: tuple[str, ...] = ("",)
    track: bool = True
    decoders: tuple[tuple[str, str], ...] = ()


class Engine:
    """Serves one feed on `ctx` and answers the commands of `control` (a connected PAIR).

    Commands (pickled tuples): `("view", stream, ViewQuery)`, `("prefixes", stream, prefixes)`,
    `("filter", stream, expression)`, `("clear", stream)`, `("export", stream, dir, now, id)`,
    `("stop",)`. Answers and reports: `("view", FeedView)`, `("exported", id, ExportResult)`,
    `("state", state, endpoint, detail)`, `("problem", text, severity)`, `("metrics", url)`
    (where `/metrics` is served, with `metrics`).
    """

    def __init__(
        self,
        ctx: zmq.Context,
        control: zmq.Socket,
        endpoint: str,
        streams: Iterable[StreamSpec],
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        capacity: int = CAPACITY,
        metrics: MetricsAddress | None = None,
    ) -> None:
        self.ctx = ctx
        self.control = control
        self.endpoint = endpoint
        self.max_message_bytes = max_message_bytes
        self.metrics = metrics
        self.feed = Feed(
            endpoint,
            [Stream(s.name, s.prefixes, track=s.track, capacity=capacity, feed=endpoint,
                    decoders=DecoderMap(s.decoders))
             for s in streams],
            None if metrics is None else _topic_counts(),
        )  # fmt: skip
        self._busy_since: float | None = None
        self._session = sockets.SessionWatch()
        self._running = True

    def behind_s(self) -> float:
        if self._busy_since is None:
            return 0.0
        busy = time.monotonic() - self._busy_since
        return busy if busy >= BEHIND_AFTER_S else 0.0

    def _send(self, *message: object) -> None:
        with contextlib.suppress(zmq.Again):
            self.control.send(pickle.dumps(message, pickle.HIGHEST_PROTOCOL), zmq.NOBLOCK)

    def _open(self) -> tuple[zmq.Socket, zmq.Socket]:
        sock = self.ctx.socket(zmq.SUB)
        sockets.configure(sock, max_message_bytes=self.max_message_bytes)
        sock.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
        monitor = sock.get_monitor_socket(_MONITOR_EVENTS)
        for topic in self.feed.topics():
            sock.subscribe(topic)
        self._send("state", "connecting", self.endpoint, "")
        sockets.connect(sock, self.endpoint)
        return sock, monitor

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
        if self.metrics is None or self.feed.counts is None:
            return None
        from zmqtui.services.feedmetrics import FeedMetrics
        from zmqtui.services.metrics import MetricsServer

        collector = FeedMetrics(self.endpoint, self.feed.counts, self.feed.missed, self.behind_s)
        try:
            server = MetricsServer(self.metrics, collector)
        except sockets.EndpointError as exc:
            self._send("problem", str(exc), "error")
            return None
        self._send("metrics", server.url)
        return server

    def _run(self, parent: int | None) -> None:
        try:
            sock, monitor = self._open()
        except (zmq.ZMQError, sockets.EndpointError) as exc:
            self._send("state", "failed", self.endpoint, str(exc))
            self._send("problem", f"cannot subscribe to {self.endpoint}: {exc}", "error")
            self._wait_for_stop(parent)
            return
        poller = zmq.Poller()
        for item in (sock, monitor, self.control):
            poller.register(item, zmq.POLLIN)
        if parent is not None:
            poller.register(parent, zmq.POLLIN)
        take = self.feed.take
        recv = sockets.recv_nowait
        clock = time.time_ns
        try:
            while self._running:
                timeout = 0 if self._busy_since is not None else 100
                ready = dict(poller.poll(timeout))
                taken = 0
                while taken < BATCH:
                    try:
                        frames = recv(sock)
                    except zmq.Again:
                        break
                    take(frames, clock())
                    taken += 1
                if taken == BATCH:
                    if self._busy_since is None:
                        self._busy_since = time.monotonic()
                else:
                    self._busy_since = None
                if monitor in ready:
                    self._watch(monitor)
                if self._session.given_up():
                    self._send(
                        "problem",
                        sockets.given_up_text(self.endpoint, self.max_message_bytes),
                        "warning",
                    )
                    sockets.reconnect(sock, self.endpoint)
                if self.control in ready:
                    self._answer(sock)
                if parent is not None and parent in ready and not os.read(parent, 4096):
                    return  # the screen's process is gone
        finally:
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)

    def _wait_for_stop(self, parent: int | None) -> None:
        poller = zmq.Poller()
        poller.register(self.control, zmq.POLLIN)
        if parent is not None:
            poller.register(parent, zmq.POLLIN)
        while self._running:
            ready = dict(poller.poll())
            if parent is not None and parent in ready and not os.read(parent, 4096):
                return
            if self.control in ready:
                self._answer(None)

    def _watch(self, monitor: zmq.Socket) -> None:
        while True:
            try:
                event = parse_monitor_message(monitor.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            kind = event["event"]
            self._session.saw(kind)
            state = _STATES.get(kind)
            if state is not None:
                self._send("state", state, self.endpoint, "")

    def _answer(self, sock: zmq.Socket | None) -> None:
        while True:
            try:
                command = pickle.loads(self.control.recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            self._command(sock, *command)

    def _command(self, sock: zmq.Socket | None, name: str, *args: Any) -> None:
        if name == "stop":
            self._running = False
            return
        stream = self.feed.streams.get(args[0])
        if stream is None:
            return
        if name == "view":
            self._send("view", stream.view(args[1], self.behind_s()))
        elif name == "prefixes":
            before = self.feed.topics()
            stream.set_prefixes(args[1])
            after = self.feed.topics()
            if sock is not None:
                for topic in after - before:
                    sock.subscribe(topic)
                for topic in before - after:
                    sock.unsubscribe(topic)
        elif name == "filter":
            stream.set_filter(args[1])
        elif name == "clear":
            stream.clear()
        elif name == "export":
            directory, now, export_id = args[1:]
            self._send("exported", export_id, stream.export(Path(directory), now))


def _topic_counts() -> TopicCounts:
    from zmqtui.services.feedmetrics import TopicCounts

    return TopicCounts()


def run_engine(
    control: str, settings: tuple[Any, ...], parent: int | None = None, serve: Serve | None = None
) -> None:
    """Serve the feed `settings` describe (see `IngestProcess`), answering on `control`, until
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
    endpoint, specs, max_bytes, capacity, metrics = settings
    engine = Engine(
        ctx, pair, endpoint, specs, max_message_bytes=max_bytes, capacity=capacity, metrics=metrics
    )
    pair.send(pickle.dumps(("ready",)))
    engine.run(parent)


Serve = Callable[[zmq.Context, zmq.Socket, tuple[Any, ...], "int | None"], None]
"""Builds an engine from its settings and runs it: `_serve`, or a playback's."""


# --- the screen's side ------------------------------------------------------------------------


class IngestProcess:
    """Runs the engine for one feed in a child process (or a thread), from asyncio.

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
        endpoint: str,
        streams: Iterable[StreamSpec],
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        capacity: int = CAPACITY,
        metrics: MetricsAddress | None = None,
        thread: bool = False,
    ) -> None:
        self.ctx = ctx
        self.settings = (endpoint, tuple(streams), max_message_bytes, capacity, metrics)
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
