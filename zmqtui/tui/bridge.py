"""The bridge: the only part of the app that owns ZeroMQ sockets; it only pumps.

It runs on Textual's event loop. The feed's messages are taken in by the ingest engine
(`zmqtui.services.ingest`) in a child process: the bridge hands it the panes' queries and
commands, asks it once per frame for what the panes show, and posts each answer as one Textual
message. The cluster's sockets belong to Textual workers here; a socket monitor on each turns
ZeroMQ's connection events into `ConnectionChanged` messages. Nothing a socket or a
service does ends the app: failures become `BackendProblem` messages and the socket is retried.

In embedded mode the stack (`zmqtui.services.stack.EmbeddedStack`) owns the watcher's
`ChangePublisher`, run in this process, and the filer cluster, a child process; whoever made
the stack stops it. The bridge shows what the publisher does (every event published, the
subscriber count and the subscriptions of its XPUB socket), publishes by hand, has the cluster
started once the first frame is on screen, watches it and reports an early exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import zmq
import zmq.asyncio
from textual.app import App
from textual.worker import Worker, WorkerCancelled, WorkerFailed
from zmq.utils.monitor import recv_monitor_message

from zmqtui.captures import NOTHING_CAPTURED, ExportResult, FeedView, RecordingStatus, ViewQuery
from zmqtui.config import REQUEST_TIMEOUT_MS, REQUEST_TRIES, FeedConfig
from zmqtui.conversations import ConversationsView
from zmqtui.format import plural
from zmqtui.frames import FrameSyntaxError, parse_frames
from zmqtui.protocol import (
    MAX_MESSAGE_BYTES,
    MAX_SNAPSHOT_BYTES,
    ChangeEvent,
    ProtocolError,
    decode_snapshot,
)
from zmqtui.request_spec import RequestSpec
from zmqtui.security.handshake import socket_event_words
from zmqtui.services import sockets
from zmqtui.services.control import ControlError, send_command
from zmqtui.services.conversations import ConversationsReader
from zmqtui.services.ingest import IngestProcess, StreamSpec
from zmqtui.services.requester import Requester, run_load
from zmqtui.services.sender import open_client, run_send_load
from zmqtui.services.stack import EmbeddedCluster, EmbeddedStack, EmbeddedTap
from zmqtui.services.subscriber import MAX_BATCH, SESSION_CHECK_MS
from zmqtui.services.supervisor import describe_exit
from zmqtui.services.watcher import ChangePublisher
from zmqtui.socket_events import SocketEvent
from zmqtui.topicstats import TopicsQuery, TopicsView
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.messages import (
    BackendProblem,
    ClusterExited,
    ConnectionChanged,
    ControlAnswered,
    ConversationsViewed,
    EventsPublished,
    ExportFinished,
    FeedViewed,
    LoadFinished,
    LoadProgressed,
    PlaybackPositioned,
    PublisherStatus,
    RecordingChanged,
    RequestFinished,
    SendFailed,
    SendFinished,
    SendLoadFinished,
    SnapshotReceived,
    SocketEventsLogged,
    TopicsViewed,
)
from zmqtui.tui.widgets.frame_clock import FRAMES_PER_S

if TYPE_CHECKING:
    from zmqtui.services.metrics import MetricsAddress

VIEW_INTERVAL_S = 1 / FRAMES_PER_S
"""How often the bridge asks the ingest side for what the panes show (when it changed)."""

TOPICS_INTERVAL_S = 0.5
"""How often the bridge asks for the topics view's counts while it is open (its rates change
once a second)."""

FLUSH_INTERVAL_S = 1 / 30
"""How often events the embedded publisher sent are handed to the app as one message."""

STATUS_INTERVAL_S = 0.25
"""How often the embedded publisher's counters are checked for changes."""

RETRY_DELAY_S = 1.0

_WORSE = {"connected": 0, "connecting": 1, "retrying": 2, "disconnected": 3, "failed": 4}
"""Feed states from the best to the worst: several feeds show the worst one's."""

_TAP_STATES = {"handshake failed": "failed"}
"""The tap socket's events whose connection state has another name."""

_INGEST_EVENTS = frozenset({"connecting", "connected", "retrying", "disconnected", "failed"})
"""The feed states the ingest child reports that are socket events (each is logged)."""


class ZmqBridge:
    """The real backend: sockets on Textual's loop, an in-process publisher when embedded.

    Args:
        endpoints: what to connect to (in embedded mode: what the stack binds).
        stack: in embedded mode, the stack (publisher, cluster, tap) whose publisher runs here
            and whose cluster starts after the first frame; whoever made it stops it.
        timeout_ms, tries: Lazy Pirate settings for requests.
        ingest_thread: take the feed in on a thread of this process instead of a child
            process (to compare the two).
        metrics: serve the feeds' figures for Prometheus here (from the ingest engine).
        decoders: topic prefix -> decoder for the `pub` feed's other messages (`[decoders]`).
        feeds: attached, the feeds the subscriber pane lists (`--sub` given several times,
            `[[feeds]]`), the first one also the publisher pane's; none: the `pub` endpoint.
    """

    OFF_DETAILS: ClassVar[dict[str, str]] = {}
    """Why a socket without an endpoint is off, by socket (none: its pane names the option)."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        stack: EmbeddedStack | None = None,
        timeout_ms: int = REQUEST_TIMEOUT_MS,
        tries: int = REQUEST_TRIES,
        ingest_thread: bool = False,
        metrics: MetricsAddress | None = None,
        decoders: tuple[tuple[str, str], ...] = (),
        feeds: Sequence[FeedConfig] = (),
    ) -> None:
        self.endpoints = endpoints
        self.stack = stack
        self.embedded = stack is not None
        self.watch_path = None if stack is None else stack.watch_path
        self.timeout_ms = timeout_ms
        self.tries = tries
        self.publisher: ChangePublisher | None = None
        self._app: App | None = None
        self._ctx: zmq.asyncio.Context | None = None
        self._workers: list[Worker[None]] = []
        self._prefixes: tuple[str, ...] = ("",)
        self.ingest_thread = ingest_thread
        self.metrics = metrics
        self.decoders = decoders
        self.feeds = tuple(feeds)
        self._ingest: IngestProcess | None = None
        self._observed: str | None = None
        """Attached: the feed whose messages the publisher pane lists (stream "observer")."""
        self._feed_states: dict[str, tuple[str, str, str]] = {}
        """Each feed's state, endpoint and detail, as the engine last told."""
        self._queries: dict[str, ViewQuery] = {}
        """What each pane last asked to see."""
        self._shown: dict[str, tuple[int, ViewQuery | None]] = {}
        self._in_flight: set[str] = set()
        self._asked: set[str] = set()
        self._topics_query: TopicsQuery | None = None
        """What the topics view asks for while it is open."""
        self._topics_shown: TopicsView | None = None
        self._topics_in_flight = False
        self._topics_asked_at = 0.0
        self._exports = 0
        self._recordings = 0
        self._recording: RecordingStatus | None = None
        """The last report of the recording in progress (None: not recording)."""
        self._pending_events: list[ChangeEvent] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._states: dict[str, tuple[str, str | None, str]] = {}
        self._sends: dict[int, Worker[None]] = {}
        """The sends in flight by send id, so that one can be cancelled."""
        self._conversations: ConversationsReader | None = None
        self._conversation_rows = 0
        """How many pairs the Conversations view lists; 0 while it is closed."""

    # --- lifetime --------------------------------------------------------------------------

    @property
    def app(self) -> App:
        assert self._app is not None, "the bridge is not started"
        return self._app

    @property
    def ctx(self) -> zmq.asyncio.Context:
        assert self._ctx is not None, "the bridge is not started"
        return self._ctx

    def start(self, app: App) -> None:
        self._app = app
        self._ctx = zmq.asyncio.Context()
        self._start_feeds()
        if self.endpoints.tap is not None:
            self._start_conversations(self.endpoints.tap)
        if self.endpoints.stats is not None:
            self._run(self._pump_stats(self.endpoints.stats), "stats", "cluster stats")
        else:
            self._post_state("stats", "off", None, self.OFF_DETAILS.get("stats", ""))
        for name in ("req", "control"):
            endpoint = getattr(self.endpoints, name)
            if endpoint is None:
                self._post_state(name, "off", None, self.OFF_DETAILS.get(name, ""))
            else:
                self._run(self._probe(name, endpoint), name, f"watch {endpoint}")
        if self.stack is not None and self.stack.cluster is not None:
            # its processes start Python while the first frame is drawn: after that frame
            app.call_after_refresh(self._start_cluster, self.stack)

    def _start_feeds(self) -> None:
        """What the publisher and subscriber panes list: the embedded publisher's feed, the
        feeds attached to, or nothing ("off")."""
        pub = self.endpoints.pub
        if self.stack is not None:
            self._run(self._run_publisher(self.stack), "publisher", "the embedded publisher")
        elif self.feeds or pub is not None:
            feeds = self.feeds or (FeedConfig(pub, pub, decoders=self.decoders),)
            self._start_ingest(feeds, observer=True)
        else:
            self._post_state("pub", "off", None)
            self._post_state("sub", "off", None)

    async def stop(self) -> None:
        """Cancel every worker, wait for their sockets to close, then end the Context."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(WorkerCancelled, WorkerFailed, asyncio.CancelledError):
                await worker.wait()
        reader, self._conversations = self._conversations, None
        if reader is not None:
            await asyncio.to_thread(reader.stop)
            reader.ctx.destroy(linger=0)
        if self._ctx is not None:
            self._ctx.destroy(linger=0)
            self._ctx = None

    def abandon(self) -> None:
        """End the processes the bridge started, at once, without the event loop (the monitor
        is ending on a signal)."""
        if self._ingest is not None:
            self._ingest.kill()

    def _run(self, work: Coroutine[Any, Any, None], group: str, description: str) -> Worker[None]:
        """Run `work` as a Textual worker; an error in it is told, never fatal."""
        worker = self.app.run_worker(
            self._told(work, description),
            group=group,
            description=description,
            exclusive=False,
            exit_on_error=False,
        )
        self._workers.append(worker)
        self._workers = [w for w in self._workers if not w.is_finished]
        return worker

    async def _told(self, work: Coroutine[Any, Any, None], description: str) -> None:
        try:
            await work
        except Exception as exc:  # a bug or an unforeseen failure: say so, keep running
            self._problem(f"{description} failed: {exc!r}")

    def _post_state(self, socket: str, state: str, endpoint: str | None, detail: str = "") -> None:
        """Tell the app about a change (ZeroMQ retries a dead peer ten times a second)."""
        if self._states.get(socket) == (state, endpoint, detail):
            return
        self._states[socket] = (state, endpoint, detail)
        self.app.post_message(ConnectionChanged(socket, state, endpoint, detail))

    def _problem(self, text: str, severity: str = "error") -> None:
        self.app.post_message(BackendProblem(text, severity))

    def _socket_event(self, socket: str, endpoint: str, event: str, detail: str = "") -> None:
        """Add to the socket-events log (each event, where `_post_state` tells only changes)."""
        logged = SocketEvent(time.time() * 1000, socket, endpoint, event, detail)
        self.app.post_message(SocketEventsLogged([logged]))

    # --- sockets with a monitor ------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connected(
        self, name: str, kind: int, endpoint: str, *, max_message_bytes: int = MAX_MESSAGE_BYTES
    ) -> AsyncIterator[zmq.asyncio.Socket]:
        """A socket connected to `endpoint`, its connection state reported as `name`."""
        sock = self.ctx.socket(kind)
        sockets.configure(sock, max_message_bytes=max_message_bytes)
        monitor = sock.get_monitor_socket(sockets.STATE_EVENTS)
        watcher = asyncio.create_task(
            self._watch_monitor(name, endpoint, monitor, sock, max_message_bytes)
        )
        try:
            self._post_state(name, "connecting", endpoint)
            self._socket_event(name, endpoint, "connecting")
            sockets.connect(sock, endpoint)
            yield sock
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)

    async def _watch_monitor(
        self,
        name: str,
        endpoint: str,
        monitor: zmq.asyncio.Socket,
        sock: zmq.asyncio.Socket,
        max_message_bytes: int,
    ) -> None:
        """Report `sock`'s connection states; connect it again if libzmq gave it up."""
        session = sockets.SessionWatch()
        curve_client = sock.getsockopt(zmq.MECHANISM) == zmq.CURVE
        while True:
            if await monitor.poll(SESSION_CHECK_MS):
                event = await recv_monitor_message(monitor)
                session.saw(event["event"])
                state = sockets.CONNECTION_STATES.get(event["event"])
                if state is not None:
                    self._post_state(name, state, endpoint)
                words = socket_event_words(
                    event["event"], event["value"], curve_client=curve_client
                )
                if words is not None:
                    self._socket_event(name, endpoint, *words)
            if session.given_up():
                self._problem(f"{name}: {sockets.given_up_text(endpoint, max_message_bytes)}")
                sockets.reconnect(sock, endpoint)

    async def _retrying(self, name: str, endpoint: str, run: Callable[[], object]) -> None:
        """Run `run()` (a coroutine function) again after any socket error, forever."""
        while True:
            try:
                await run()  # type: ignore[misc]
                return
            except (zmq.ZMQError, sockets.EndpointError) as exc:
                self._post_state(name, "failed", endpoint, str(exc))
                await asyncio.sleep(RETRY_DELAY_S)

    # --- ingest: the feed's messages, taken in outside the screen's loop ------------------

    def _start_ingest(self, feeds: Sequence[FeedConfig], *, observer: bool) -> None:
        streams = [StreamSpec("sub", self._prefixes)]
        if observer:  # attached: the publisher pane lists everything the first feed sends
            self._observed = feeds[0].name
            streams.insert(0, StreamSpec("observer", track=False, feeds=(self._observed,)))
        ingest = self._ingest_process(feeds, streams)
        ingest.start()
        self._ingest = ingest
        described = feeds[0].endpoint if len(feeds) == 1 else plural(len(feeds), "feed")
        self._run(self._read_ingest(ingest), "ingest", f"take in {described}")
        self._run(self._poll_views(ingest, described), "views", "ask for views")

    def _ingest_process(
        self, feeds: Sequence[FeedConfig], streams: list[StreamSpec]
    ) -> IngestProcess:
        """The engine that takes the feeds in (a recording's playback, for `--open`)."""
        return IngestProcess(
            self.ctx, feeds, streams, metrics=self.metrics, thread=self.ingest_thread
        )

    async def _read_ingest(self, ingest: IngestProcess) -> None:
        """Hand the engine's answers and reports to the app; say so if the engine dies."""
        try:
            while True:
                reply = await ingest.replies()
                kind, args = reply[0], reply[1:]
                if kind == "view":
                    self._viewed(args[0])
                elif kind == "state":
                    self._feed_state(*args)
                    _feed, state, endpoint, detail = args
                    if state in _INGEST_EVENTS:
                        self._socket_event("sub", endpoint, state, detail)
                elif kind == "problem":
                    self._problem(*args)
                elif kind == "exported":
                    self.app.post_message(ExportFinished(args[1]))
                elif kind == "recording":
                    self._recording = None if args[0].done else args[0]
                    self.app.post_message(RecordingChanged(args[0]))
                elif kind == "topics":
                    self._topics_viewed(args[0])
                elif kind == "position":
                    self.app.post_message(PlaybackPositioned(args[0]))
        finally:
            if self._recording is not None:  # the file stays, perhaps without its end
                why = "the process taking in the feed ended"
                self.app.post_message(
                    RecordingChanged(replace(self._recording, done=True, error=why))
                )
                self._recording = None
            if self._ingest is ingest:
                self._ingest = None
                with contextlib.suppress(Exception):
                    await ingest.stop()

    def _feed_state(self, feed: str, state: str, endpoint: str, detail: str) -> None:
        """A feed's state: the publisher pane's when it observes that feed; the subscriber
        pane's is the feed's with one feed, else the worst of them over "N feeds"."""
        self._feed_states[feed] = (state, endpoint, detail)
        if feed == self._observed:
            self._post_state("pub", state, endpoint, detail)
        if len(self._feed_states) == 1 and len(self.feeds) <= 1:
            self._post_state("sub", state, endpoint, detail)
            return
        worst = max(self._feed_states.values(), key=lambda told: _WORSE.get(told[0], 0))
        total = max(len(self.feeds), len(self._feed_states))
        self._post_state("sub", worst[0], plural(total, "feed"), worst[2])

    def _viewed(self, view: FeedView) -> None:
        stream = view.stream
        self._in_flight.discard(stream)
        query = self._queries.get(stream)
        shown = (view.generation, query)
        if self._shown.get(stream) != shown:
            self._shown[stream] = shown
            self.app.post_message(FeedViewed(view))
        if stream in self._asked:  # the query changed while this view was on its way
            self._asked.discard(stream)
            self._ask(stream)

    def _ask(self, stream: str) -> None:
        query = self._queries.get(stream)
        if self._ingest is None or query is None:
            return
        if stream in self._in_flight:
            self._asked.add(stream)
            return
        self._in_flight.add(stream)
        self._ingest.send("view", stream, query)

    def _topics_viewed(self, view: TopicsView) -> None:
        self._topics_in_flight = False
        if view.query == self._topics_query and view != self._topics_shown:
            self._topics_shown = view
            self.app.post_message(TopicsViewed(view))

    def _ask_topics(self) -> None:
        if self._ingest is None or self._topics_query is None or self._topics_in_flight:
            return
        self._topics_in_flight = True
        self._topics_asked_at = asyncio.get_running_loop().time()
        self._ingest.send("topics", self._topics_query)

    async def _poll_views(self, ingest: IngestProcess, described: str) -> None:
        """Once per frame, ask for each stream's view (posted only when it changed), and for
        the topics while their view is open; say so if the ingest process ends."""
        loop = asyncio.get_running_loop()
        while ingest.alive():
            await asyncio.sleep(VIEW_INTERVAL_S)
            for stream in self._queries:
                self._ask(stream)
            if loop.time() - self._topics_asked_at >= TOPICS_INTERVAL_S:
                self._ask_topics()
        for socket in ("pub", "sub") if self._observed else ("sub",):
            self._post_state(socket, "failed", described, "the ingest process ended")
        self._problem(f"the process taking in {described} ended: nothing more is received")

    def view(self, stream: str, query: ViewQuery) -> None:
        if self._queries.get(stream) != query:
            self._queries[stream] = query
            self._ask(stream)

    def topics(self, query: TopicsQuery | None) -> None:
        if query != self._topics_query:
            self._topics_query, self._topics_shown = query, None
            self._topics_in_flight = False  # an answer on its way is for the old query: dropped
            self._ask_topics()

    def set_prefixes(self, prefixes: Sequence[str]) -> None:
        self._prefixes = tuple(prefixes) or ("",)
        if self._ingest is not None:
            self._ingest.send("prefixes", "sub", self._prefixes)
            self._ask("sub")

    def observe_feed(self, feed: str) -> None:
        if self._ingest is None or self._observed is None or feed == self._observed:
            return
        self._observed = feed
        self._ingest.send("listed_feeds", "observer", (feed,))
        if (told := self._feed_states.get(feed)) is not None:
            self._post_state("pub", *told)
        self._ask("observer")

    def set_filter(self, stream: str, expression: str) -> None:
        if self._ingest is not None:
            self._ingest.send("filter", stream, expression)
            self._ask(stream)

    def clear(self, stream: str) -> None:
        if self._ingest is not None:
            self._ingest.send("clear", stream)
            self._ask(stream)

    def export(self, stream: str, directory: Path, now: float) -> None:
        if self._ingest is None:
            self.app.post_message(ExportFinished(ExportResult(None, 0, 0, NOTHING_CAPTURED)))
            return
        self._exports += 1
        self._ingest.send("export", stream, str(directory), now, self._exports)

    def start_recording(self, directory: Path, now: float, compressed: bool) -> None:
        self._recordings += 1
        if self._ingest is None:
            why = "nothing to record: no feed is taken in"
            status = RecordingStatus(self._recordings, None, done=True, error=why)
            self.app.post_message(RecordingChanged(status))
            return
        self._ingest.send("record", str(directory), now, compressed, self._recordings)

    def stop_recording(self) -> None:
        if self._ingest is not None:
            self._ingest.send("record_stop")

    # --- the tap's conversations: read on a thread, viewed once per frame ---------------------

    def _start_conversations(self, endpoint: str) -> None:
        reader = ConversationsReader(zmq.Context(), endpoint)
        try:
            reader.start()
        except (zmq.ZMQError, sockets.EndpointError) as exc:
            reader.ctx.destroy(linger=0)
            self._post_state("tap", "failed", endpoint, str(exc))
            self._problem(f"tap {endpoint}: {exc}")
            return
        self._conversations = reader
        self._run(self._poll_conversations(reader), "conversations", f"read the tap {endpoint}")

    async def _poll_conversations(self, reader: ConversationsReader) -> None:
        """Once per frame: the tap socket's events to the log, and, while the view is open, the
        conversations when they changed."""
        shown: tuple[int, int] | None = None
        while reader.alive:
            await asyncio.sleep(VIEW_INTERVAL_S)
            events = reader.events()
            if events:
                for event in events:
                    self._post_state(
                        "tap",
                        _TAP_STATES.get(event.event, event.event),
                        reader.endpoint,
                        event.detail,
                    )
                self.app.post_message(SocketEventsLogged(events))
            rows = self._conversation_rows
            if rows and shown != (reader.generation, rows):
                view: ConversationsView = reader.view(rows)
                shown = (view.generation, rows)
                self.app.post_message(ConversationsViewed(view))
            elif not rows:
                shown = None
        self._post_state("tap", "failed", reader.endpoint, str(reader.error))
        self._problem(f"reading the tap {reader.endpoint} stopped: {reader.error}")

    def view_conversations(self, rows: int) -> None:
        self._conversation_rows = max(0, rows)

    # --- the cluster: stats, probes, requests, control ----------------------------------------

    async def _pump_stats(self, endpoint: str) -> None:
        async def run() -> None:
            async with self._connected(
                "stats", zmq.SUB, endpoint, max_message_bytes=MAX_SNAPSHOT_BYTES
            ) as sock:
                sock.subscribe(b"")
                await self._drain_stats(sock)

        await self._retrying("stats", endpoint, run)

    async def _drain_stats(self, sock: zmq.asyncio.Socket) -> None:
        """Post only the newest snapshot of each batch; say once when one is malformed."""
        complained = False
        view = sockets.plain_view(sock)
        while True:
            batch = [await sock.recv_multipart(), *sockets.queued_messages(view, MAX_BATCH - 1)]
            for frames in reversed(batch):
                try:
                    snapshot = decode_snapshot(frames)
                except ProtocolError as exc:
                    if not complained:
                        complained = True
                        self._problem(f"stats: ignoring a malformed snapshot: {exc}", "warning")
                    continue
                self.app.post_message(SnapshotReceived(snapshot))
                break
            await asyncio.sleep(0)

    async def _probe(self, name: str, endpoint: str) -> None:
        """A DEALER that only connects, so its monitor shows whether `endpoint` is up."""

        async def run() -> None:
            async with self._connected(name, zmq.DEALER, endpoint):
                await asyncio.Event().wait()

        await self._retrying(name, endpoint, run)

    def send_request(
        self, path: str, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        endpoint = self.endpoints.req
        if endpoint is None:
            self._problem("no --req endpoint given: nowhere to send requests", "warning")
            self.app.post_message(SendFailed(path, count, "no --req endpoint given", send_id))
            return
        if count <= 1:
            work = self._request_once(endpoint, path, send_id)
            description = f"request {path}"
        else:
            work = self._request_load(endpoint, path, count, concurrency, send_id)
            description = f"{count} requests for {path}"
        worker = self._run(self._answering(work, path, count, send_id), "requests", description)
        if send_id is not None:
            self._sends[send_id] = worker

    def cancel_send(self, send_id: int) -> None:
        worker = self._sends.pop(send_id, None)
        if worker is not None:
            worker.cancel()

    async def _answering(
        self, work: Coroutine[Any, Any, None], path: str, count: int, send_id: int | None
    ) -> None:
        """Run a send; if it breaks or is cancelled, tell the composer too, so the send does not
        wait forever."""
        try:
            await work
        except asyncio.CancelledError:
            self.app.post_message(SendFailed(path, count, "cancelled", send_id, cancelled=True))
            raise
        except Exception as exc:
            self.app.post_message(SendFailed(path, count, f"{type(exc).__name__}: {exc}", send_id))
            raise
        finally:
            if send_id is not None:
                self._sends.pop(send_id, None)

    def _progress(self, count: int, send_id: int | None) -> Callable[[object], None]:
        """A load run's `on_result`: posts how many of its `count` requests have finished."""
        done = 0

        def progressed(_result: object) -> None:
            nonlocal done
            done += 1
            self.app.post_message(LoadProgressed(done, count, send_id))

        return progressed

    async def _request_once(self, endpoint: str, path: str, send_id: int | None) -> None:
        async with Requester(
            self.ctx, endpoint, timeout_ms=self.timeout_ms, tries=self.tries
        ) as requester:
            result = await requester.request(path)
        self._log_refused(endpoint, result.handshake_failure)
        self.app.post_message(RequestFinished(result, send_id))

    async def _request_load(
        self, endpoint: str, path: str, count: int, concurrency: int, send_id: int | None
    ) -> None:
        summary = await run_load(
            self.ctx,
            endpoint,
            path,
            count,
            concurrency,
            timeout_ms=self.timeout_ms,
            tries=self.tries,
            on_result=self._progress(count, send_id),
        )
        self._log_refused(endpoint, summary.handshake_failure)
        self.app.post_message(LoadFinished(summary, send_id))

    def send_message(
        self, spec: RequestSpec, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        label = spec.name or spec.endpoint or "message"
        endpoint = spec.endpoint or self.endpoints.req
        if not endpoint:
            self.app.post_message(SendFailed(label, count, "no endpoint to send to", send_id))
            return
        work = self._send_message(endpoint, spec, count, concurrency, send_id, label)
        description = f"send to {endpoint}" if count <= 1 else f"{count} messages to {endpoint}"
        worker = self._run(self._answering(work, label, count, send_id), "sends", description)
        if send_id is not None:
            self._sends[send_id] = worker

    async def _send_message(
        self,
        endpoint: str,
        spec: RequestSpec,
        count: int,
        concurrency: int,
        send_id: int | None,
        label: str,
    ) -> None:
        """Read the frames (a file's off the event loop), then send them once or `count` times."""
        try:
            frames = await asyncio.to_thread(parse_frames, list(spec.frames))
        except FrameSyntaxError as exc:
            self.app.post_message(SendFailed(label, count, str(exc), send_id))
            return
        options = {"timeout_ms": spec.timeout_ms or self.timeout_ms, "tries": self.tries}
        if count <= 1:
            client = open_client(self.ctx, endpoint, spec.socket, **options)
            try:
                result = await client.request(frames)
            finally:
                client.close()
            self._log_refused(endpoint, result.handshake_failure)
            self.app.post_message(SendFinished(result, send_id))
            return
        summary = await run_send_load(
            self.ctx,
            endpoint,
            frames,
            count,
            concurrency,
            kind=spec.socket,
            on_result=self._progress(count, send_id),
            **options,
        )
        self._log_refused(endpoint, summary.handshake_failure)
        self.app.post_message(SendLoadFinished(summary, send_id))

    def _log_refused(self, endpoint: str, failure: str | None) -> None:
        """A composer's send whose handshake failed, in the socket-events log as "send" (its
        sockets' other events are not: libzmq gives a socket one monitor, and the client's
        `HandshakeWatch` holds it)."""
        if failure:
            self._socket_event("send", endpoint, "handshake failed", failure)

    def control(self, command: str, **args: int) -> None:
        endpoint = self.endpoints.control
        if endpoint is None:
            self._problem("no --control endpoint given: the cluster cannot be steered", "warning")
            return
        self._run(self._control(endpoint, command, args), "control", f"control: {command}")

    async def _control(self, endpoint: str, command: str, args: dict[str, int]) -> None:
        try:
            reply = await send_command(
                self.ctx, endpoint, command, timeout_ms=self.timeout_ms, tries=self.tries, **args
            )
        except ControlError as exc:
            self._problem(f"{command}: {exc}")
            return
        self.app.post_message(ControlAnswered(command, reply))

    def restart_cluster(self) -> None:
        """Stop the embedded cluster if it still runs, start it again and watch the new one."""
        cluster = None if self.stack is None else self.stack.cluster
        if cluster is None:
            self._problem(
                "no embedded cluster to restart: attached, nothing was started", "warning"
            )
            return
        self._run(self._restart_cluster(cluster), "cluster", "restart the cluster")

    async def _restart_cluster(self, cluster: EmbeddedCluster) -> None:
        try:
            await asyncio.to_thread(cluster.restart)  # waits for the old one to stop
        except (OSError, RuntimeError) as exc:
            self._problem(f"the embedded cluster could not restart: {exc}")
            return
        await self._watch_cluster(cluster)

    def _start_cluster(self, stack: EmbeddedStack) -> None:
        if self._ctx is None or stack.cluster is None:  # stopped before the first frame
            return
        try:
            stack.start_cluster()
        except (OSError, RuntimeError) as exc:
            self._problem(f"the embedded cluster could not start: {exc}")
            return
        self._run(self._watch_cluster(stack.cluster), "cluster", "the cluster process")
        if stack.tap is not None:
            self._run(self._watch_tap(stack.tap), "tap", "the tap process")

    async def _watch_tap(self, tap: EmbeddedTap) -> None:
        """Say so when the embedded tap ends by itself: requests to its endpoint go nowhere."""
        process = tap.process
        while (code := tap.poll()) is None:
            await asyncio.sleep(0.5)
        if tap.process is process:
            why = tap.log_tail() if code >= 0 else ""  # a signal leaves no reason in it
            self._problem(
                f"the embedded tap exited ({describe_exit(code)}): requests to {tap.listen} "
                "go nowhere until the monitor starts again" + (f":\n{why}" if why else "")
            )

    async def _watch_cluster(self, cluster: EmbeddedCluster) -> None:
        """Tell the app when the process started last ends by itself (not by a restart)."""
        process = cluster.process
        while (code := cluster.poll()) is None:
            await asyncio.sleep(0.5)
        if cluster.process is process:
            self.app.post_message(ClusterExited(code, describe_exit(code), cluster.log_tail()))

    # --- the embedded publisher ----------------------------------------------------------------

    async def _run_publisher(self, stack: EmbeddedStack) -> None:
        def failed(endpoint: str, why: str) -> None:
            self._post_state("pub", "failed", endpoint, why)
            self._problem(f"the embedded publisher could not start: {why}")

        publisher = await stack.start_publisher(self.ctx, failed)
        if publisher is None or stack.running is None:
            return
        try:
            await self._serve_publisher(publisher, stack.running)
        finally:
            await stack.stop_publisher()

    async def _serve_publisher(self, publisher: ChangePublisher, running: asyncio.Task) -> None:
        self.publisher = publisher
        endpoint = publisher.endpoint
        assert endpoint is not None
        publisher.add_listener(self._on_published)
        self._post_state("pub", "bound", endpoint)
        self.endpoints = replace(self.endpoints, pub=endpoint)
        feed = FeedConfig(
            endpoint, endpoint, decoders=self.decoders, max_message_bytes=MAX_MESSAGE_BYTES
        )
        self._start_ingest((feed,), observer=False)
        last = None
        try:
            while not running.done():
                status = (publisher.published, publisher.subscribers, dict(publisher.subscriptions))
                if status != last:
                    last = status
                    self.app.post_message(PublisherStatus(*status))
                await asyncio.sleep(STATUS_INTERVAL_S)
            error = running.exception() if not running.cancelled() else None
            self._post_state("pub", "failed", endpoint, str(error))
            self._problem(f"the embedded publisher stopped: {error}")
        finally:
            self.publisher = None

    def _on_published(self, event: ChangeEvent) -> None:
        """Called by the publisher for each event; hands them to the app ~30 times a second."""
        self._pending_events.append(event)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(FLUSH_INTERVAL_S, self._flush_published)

    def _flush_published(self) -> None:
        self._flush_handle = None
        events, self._pending_events = self._pending_events, []
        if events and self._app is not None:
            self.app.post_message(EventsPublished(events))

    def publish(self, file: str, event: str, dest: str | None = None) -> None:
        if self.publisher is None:
            self._problem("publishing by hand needs the embedded publisher", "warning")
            return
        try:
            self.publisher.publish(file, event, dest=dest)
        except RuntimeError as exc:
            self._problem(f"could not publish: {exc}")
