"""A backend for pilot tests: records what the app asks, opens no socket."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers import plain
from local_feed import LocalFeed
from textual.app import App, ComposeResult
from textual.message import Message

from zmqtui.captures import NS_PER_MS, Capture
from zmqtui.conversations import ConversationsView
from zmqtui.protocol import ChangeEvent, ClusterSnapshot, WorkerStats
from zmqtui.request_spec import RequestSpec
from zmqtui.socket_events import SocketEvent
from zmqtui.topicstats import TopicsQuery, TopicStats
from zmqtui.tui.backend import SOCKET_NAMES, Endpoints
from zmqtui.tui.messages import (
    ClearWanted,
    ConnectionChanged,
    ConversationsViewed,
    ExportFinished,
    ExportWanted,
    FeedViewed,
    FilterChanged,
    RequestFinished,
    SocketEventsLogged,
    TopicsViewed,
    ViewWanted,
)
from zmqtui.tui.panes.subscriber import SubscriberPane
from zmqtui.tui.widgets.detail_view import DetailView
from zmqtui.tui.widgets.ring_log import RingLog

EMBEDDED_ENDPOINTS = Endpoints(
    pub="tcp://127.0.0.1:60400",
    req="tcp://127.0.0.1:60401",
    stats="tcp://127.0.0.1:60402",
    control="tcp://127.0.0.1:60403",
)


class FakeBackend(LocalFeed):
    """Posts a fixed connection state for every socket on start, then records calls; answers a
    request only when a test says so (`finish`); holds scripted messages in process (`add`)."""

    def __init__(
        self,
        *,
        embedded: bool = True,
        endpoints: Endpoints = EMBEDDED_ENDPOINTS,
        watch_path: Path | None = Path("/srv/files"),
    ) -> None:
        super().__init__()
        self.embedded = embedded
        self.endpoints = endpoints
        self.watch_path = watch_path if embedded else None
        self.calls: list[tuple[str, Any]] = []
        self.send_ids: list[int | None] = []
        """The send id of each `send_request` and `send_message`, in the order they came."""
        self.stopped = False
        self.app: App | None = None
        self.topic_stats = TopicStats()
        """The counts per topic a test scripts; every topics query is answered from them."""

    def start(self, app: App) -> None:
        self.app = app
        for socket in SOCKET_NAMES:
            key = "pub" if socket == "sub" else socket
            endpoint = getattr(self.endpoints, key)
            if endpoint is None:
                app.post_message(ConnectionChanged(socket, "off", None))
            else:
                state = "bound" if socket == "pub" and self.embedded else "connected"
                app.post_message(ConnectionChanged(socket, state, endpoint))

    async def stop(self) -> None:
        self.stopped = True

    def set_prefixes(self, prefixes: Sequence[str]) -> None:
        self.calls.append(("set_prefixes", tuple(prefixes)))

    def observe_feed(self, feed: str) -> None:
        self.calls.append(("observe_feed", feed))

    def topics(self, query: TopicsQuery | None) -> None:
        self.calls.append(("topics", query))
        if query is not None and self.app is not None:
            self.app.post_message(TopicsViewed(self.topic_stats.view(query)))

    def publish(self, file: str, event: str, dest: str | None = None) -> None:
        self.calls.append(("publish", (file, event, dest)))

    def send_request(
        self, path: str, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        self.calls.append(("send_request", (path, count, concurrency)))
        self.send_ids.append(send_id)

    def send_message(
        self, spec: RequestSpec, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        self.calls.append(("send_message", (spec, count, concurrency)))
        self.send_ids.append(send_id)

    def finish(self, send: int, result: Any) -> None:
        """Answer the `send`th request sent (0: the first) with `result`, as the bridge would."""
        assert self.app is not None, "not started"
        self.app.post_message(RequestFinished(result, self.send_ids[send]))

    def cancel_send(self, send_id: int) -> None:
        self.calls.append(("cancel_send", send_id))

    def control(self, command: str, **args: int) -> None:
        self.calls.append(("control", (command, args)))

    def restart_cluster(self) -> None:
        self.calls.append(("restart_cluster", ()))

    def start_recording(self, directory: Path, now: float, compressed: bool) -> None:
        self.calls.append(("start_recording", (directory, now, compressed)))

    def stop_recording(self) -> None:
        self.calls.append(("stop_recording", ()))

    def view_conversations(self, rows: int) -> None:
        self.calls.append(("view_conversations", rows))

    def show_conversations(self, view: ConversationsView) -> None:
        """Answer the Conversations view as the bridge would, once per frame."""
        assert self.app is not None, "not started"
        self.app.post_message(ConversationsViewed(view))

    def log_socket_events(self, *events: SocketEvent) -> None:
        assert self.app is not None, "not started"
        self.app.post_message(SocketEventsLogged(list(events)))


T0 = 1_767_225_600_000
"""A fixed moment (ms) that scripted messages are stamped from."""


def event(
    seq: int, file: str = "notes/todo.txt", kind: str = "modified", at: int = 0
) -> ChangeEvent:
    return ChangeEvent(
        file=file, timestamp=T0 + at, event=kind, seq=seq, publisher="a1b2c3d4e5f6", pid=4242
    )


def capture(change: ChangeEvent, lag_ms: int = 3, notes: Sequence[str] = ()) -> Capture:
    received_ns = (change.timestamp + lag_ms) * NS_PER_MS
    return Capture((change.encode(),), received_ns, change, None, tuple(notes))


def raw_capture(frames: list[bytes], error: str, at: int = 0) -> Capture:
    return Capture(tuple(frames), (T0 + at) * NS_PER_MS, None, error)


def snapshot(pids: Sequence[int] = (5101, 5102)) -> ClusterSnapshot:
    workers = [
        WorkerStats(
            slot=slot,
            pid=pid,
            state="ready",
            requests=10 * (slot + 1),
            started=T0 - 60_000,
            last_heartbeat=T0,
            latency_ms=0.8,
            cpu_percent=1.5,
            memory_bytes=28 * 1024 * 1024,
        )
        for slot, pid in enumerate(pids)
    ]
    return ClusterSnapshot(
        pid=5100,
        timestamp=T0,
        endpoints={"frontend": EMBEDDED_ENDPOINTS.req or ""},
        routing="lb",
        broker={"frontend_in": 30, "frontend_bytes_in": 900},
        workers=workers,
        seq=1,
    )


class SubscriberHost(App[None]):
    """The pane alone, on the ingest side's streams in this process (`feed`)."""

    AUTO_FOCUS = "#subscriber-log"

    def __init__(self, tmp_path: Path, capacity: int = 1000) -> None:
        super().__init__()
        self.tmp_path = tmp_path
        self.feed = LocalFeed(capacity)
        self.feed.app = self
        self.posted: list[Message] = []

    def compose(self) -> ComposeResult:
        yield SubscriberPane(clock=lambda: T0 / 1000, export_dir=self.tmp_path, id="sub")

    def on_view_wanted(self, message: ViewWanted) -> None:
        self.feed.view(message.stream, message.query)

    def on_filter_changed(self, message: FilterChanged) -> None:
        self.feed.set_filter(message.stream, message.expression)

    def on_clear_wanted(self, message: ClearWanted) -> None:
        self.feed.clear(message.stream)

    def on_export_wanted(self, message: ExportWanted) -> None:
        self.feed.export(message.stream, message.directory, message.now)

    def on_feed_viewed(self, message: FeedViewed) -> None:
        # A view may still arrive while the test's app closes, after the pane is gone.
        for pane in self.query(SubscriberPane):
            pane.show_view(message.view)

    def on_export_finished(self, message: ExportFinished) -> None:
        self.pane.export_finished(message.result)

    def on_subscriber_pane_subscriptions_changed(self, message: Message) -> None:
        self.posted.append(message)

    @property
    def pane(self) -> SubscriberPane:
        return self.query_one(SubscriberPane)


def detail_text(app: App, pane: SubscriberPane) -> str:
    return plain(pane.query_one("#subscriber-detail", DetailView).renderable)


def on_screen(log: RingLog) -> list[str]:
    """The lines the log paints right now."""
    return [
        "".join(segment.text for segment in log.render_line(y)).rstrip()
        for y in range(log.scrollable_content_region.height)
    ]
