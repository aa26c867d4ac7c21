"""ZmqtuiApp: the monitor's screen, its keys, and the routing of bridge messages to panes.

The app never touches a socket: its backend (`zmqtui.tui.bridge.ZmqBridge`, or a scripted one
in tests) posts messages, and the app hands each to the pane it concerns. What a pane asks for
(send a request, kill a worker, change subscriptions, publish by hand) goes back to the backend.
"""

from __future__ import annotations

import functools
import gc
import inspect
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar, TypeVar

from rich.text import Text
from textual import actions, events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import Input, Static

from zmqtui.captures import RecordingStatus
from zmqtui.collection import DEFAULT_DIR, CollectionError, default_collection_dir
from zmqtui.config import captures_dir
from zmqtui.conversations import ConversationsView
from zmqtui.format import format_bytes, plural
from zmqtui.history import (
    History,
    failure_outcome,
    file_request_outcome,
    load_outcome,
    send_outcome,
)
from zmqtui.request_spec import RequestSpec
from zmqtui.socket_events import SocketEventLog
from zmqtui.text import MULTI_LINE, printable
from zmqtui.tui.backend import GOOD_STATES, SOCKET_NAMES, Backend
from zmqtui.tui.keys import declared_bindings, key_entries
from zmqtui.tui.messages import (
    BackendProblem,
    ClearWanted,
    ClusterExited,
    ConnectionChanged,
    ControlAnswered,
    ConversationsViewed,
    ConversationsWanted,
    EventsPublished,
    ExportFinished,
    ExportWanted,
    FeedViewed,
    FilterChanged,
    LoadFinished,
    LoadProgressed,
    PublisherStatus,
    RecordingChanged,
    RequestFinished,
    SendFailed,
    SendFinished,
    SendLoadFinished,
    SnapshotReceived,
    SocketEventsLogged,
    TopicsViewed,
    TopicsWanted,
    ViewWanted,
)
from zmqtui.tui.panes.base import Pane
from zmqtui.tui.panes.composer import ComposerPane
from zmqtui.tui.panes.composer.library import RequestLibrary
from zmqtui.tui.panes.composer.pane import file_request
from zmqtui.tui.panes.publisher import PublisherPane
from zmqtui.tui.panes.subscriber import SubscriberPane
from zmqtui.tui.panes.workers import WorkersPane
from zmqtui.tui.views.base import View
from zmqtui.tui.views.conversations import ConversationsScreen
from zmqtui.tui.views.socket_events import SocketEventsScreen
from zmqtui.tui.views.topics import TopicChosen, TopicsScreen
from zmqtui.tui.widgets.key_bar import KeyBar

PANES: dict[str, type[Pane]] = {
    "publisher": PublisherPane,
    "subscriber": SubscriberPane,
    "composer": ComposerPane,
    "workers": WorkersPane,
}
"""The panes by name (their widget id), in the order of their keys, 1 to 4."""

VIEWS: dict[str, type[View]] = {
    view.NAME: view for view in (TopicsScreen, ConversationsScreen, SocketEventsScreen)
}
"""The full-screen views a key opens over the panes, by name, in the help's order."""

ViewT = TypeVar("ViewT", bound=View)

PANE_KEYS = Binding.Group("Panes", compact=True)

NARROW_PANE = 60
"""Columns under which a pane's secondary parts give way (the workers' throughput graph)."""

SHORT_PANE = 14
"""Lines under which a pane's secondary parts give way (the workers' broker traffic)."""


class PaneFrame(Vertical):
    """The border, title and connection line around one pane; what `m` maximises."""

    ALLOW_MAXIMIZE = True

    def __init__(self, pane: Pane, key: str, width: str) -> None:
        name = pane.id or ""
        super().__init__(pane, id=f"{name}-frame", classes=f"pane-frame -{width}")
        self.pane = pane
        self.pane_name = name
        self.base_title = f"{key} {pane.TITLE}"
        """The border's title, before what the pane adds to it."""
        self.border_title = self.base_title
        self.state_class: str | None = None

    def on_resize(self, event: events.Resize) -> None:
        """Below `NARROW_PANE` columns the frame is `-tight`, below `SHORT_PANE` lines
        `-short`: app.tcss lets parts give way."""
        self.set_class(event.size.width < NARROW_PANE, "-tight")
        self.set_class(event.size.height < SHORT_PANE, "-short")

    def show_state_class(self, name: str) -> None:
        """Colour the connection line as `name` (good, waiting, bad, off). Restyles the frame
        alone, and only on a change: its pane's widgets do not depend on it."""
        if name == self.state_class:
            return
        classes = {f"-{self.state_class}": False} if self.state_class else {}
        self.state_class = name
        self.update_classes({**classes, f"-{name}": True}, update=False)
        self.app.stylesheet.update_nodes([self], animate=True)


class ConnectionBar(Static):
    """One line: the state of every socket, and what runs where. Where that does not fit, a
    working socket says so by its colour alone."""

    def __init__(self, mode: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = mode
        self.states: dict[str, str] = dict.fromkeys(SOCKET_NAMES, "connecting")

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "connection-bar--good",
        "connection-bar--waiting",
        "connection-bar--bad",
        "connection-bar--off",
        "connection-bar--recording",
    }

    recording: RecordingStatus | None = None
    """The recording in progress, shown before the sockets (None: not recording)."""

    def set_recording(self, status: RecordingStatus | None) -> None:
        self.recording = status
        self.refresh_text()

    def set_state(self, socket: str, state: str) -> None:
        """A socket's new state; one the bar does not show (the tap's) redraws nothing."""
        if socket in self.states:
            self.states[socket] = state
            self.refresh_text()

    def on_mount(self) -> None:
        self.refresh_text()

    def on_resize(self) -> None:
        self.refresh_text()

    def refresh_text(self) -> None:
        text = self._text(compact=False)
        if text.cell_len > self.content_region.width > 0:
            text = self._text(compact=True)
        self.update(text)

    def _text(self, *, compact: bool) -> Text:
        text = Text()
        if self.recording is not None:
            style = self.get_component_rich_style("connection-bar--recording", partial=True)
            text.append("⏺ rec ", style)
            text.append(f"{plural(self.recording.messages, 'message')} ")
            text.append(format_bytes(self.recording.file_bytes))
            text.append(" │ ")
        for socket in SOCKET_NAMES:
            state = self.states[socket]
            style = self.get_component_rich_style(
                f"connection-bar--{state_class(state)}", partial=True
            )
            text.append("● ", style)
            if compact and state in GOOD_STATES:
                text.append(socket)
            else:
                text.append(f"{socket} ")
                text.append(state, style)
            text.append("  ")
        text.append("│ ")
        text.append(self.mode)
        return text


def state_class(state: str) -> str:
    """good, waiting, bad or off: how a connection state is coloured."""
    if state in GOOD_STATES:
        return "good"
    if state == "connecting":
        return "waiting"
    if state == "off":
        return "off"
    return "bad"


def _while_running(handler: Callable[[ZmqtuiApp, Message], None]):
    """Skips a backend message that arrives while the app closes (its panes are gone)."""

    @functools.wraps(handler)
    def guarded(app: ZmqtuiApp, message: Message) -> None:
        if app.is_running:
            handler(app, message)

    return guarded


class ZmqtuiApp(App[None]):
    """The zmqtui monitor: publisher, subscriber, requests and workers panes on live sockets.

    Args:
        backend: where the data comes from and requests go (`ZmqBridge` for real sockets).
        clock: seconds since the epoch; rates and export names use it (tests freeze it).
        completion_root: the directory whose paths the request composer completes.
        export_dir: where the subscriber pane exports captures and `ctrl+r` records (default:
            `captures_dir()`, in the user's data directory).
        record_compressed: `ctrl+r` writes `.jsonl.zst` (else `.jsonl`).
        collection_dir: where the requests pane saves and finds requests (default:
            `zmq-requests` in the current directory).
        environment: the collection environment that fills `${variables}` at start.
        notices: told to the user once the screen is up (e.g. which ports replaced taken ones).
        standalone: running as the `zmqtui` command: after start-up, move everything alive out
            of the garbage collector's sight, so full collections under a flood stay short.
    """

    TITLE = "zmqtui"
    ESCAPE_TO_MINIMIZE = False  # `escape` restores through BINDINGS, or leaves a text field
    ALLOW_IN_MAXIMIZED_VIEW = "KeyBar, ConnectionBar"
    CSS_PATH = Path(__file__).with_name("app.tcss")

    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(
                str(key),
                f"focus_pane('{name}')",
                f"Focus {PANES[name].TITLE.lower()} pane",
                tooltip="focus a pane (showing it if hidden)",
                group=PANE_KEYS,
            )
            for key, name in enumerate(PANES, start=1)
        ),
        Binding("f1,question_mark", "help", "Help", tooltip="this help: every pane, view and key"),
        Binding("m", "maximize", "Maximise", tooltip="the focused pane fills the screen"),
        Binding("m,escape", "restore", "Restore", tooltip="restore the maximised pane"),
        Binding("h", "hide_pane", "Hide", tooltip="hide the focused pane"),
        TopicsScreen.binding(show=True),
        Binding("0", "show_all_panes", "Show all panes", show=False, tooltip="show every pane"),
        Binding(
            "ctrl+r",
            "toggle_recording",
            "Record",
            tooltip="record every message of every feed, frames exactly, to "
            "`zmqtui-recording-<time>.jsonl.zst` in the export directory; again stops",
        ),
        ConversationsScreen.binding(),
        SocketEventsScreen.binding(),
        Binding("q", "quit", "Quit", tooltip="quit (stops the embedded stack)"),
        Binding("ctrl+c,ctrl+q", "quit", "Quit", priority=True),
        Binding(
            "escape",
            "leave_field",
            "Back",
            tooltip="leave a text field, back to the pane's list",
            system=True,
        ),
        Binding(
            "tab", "focus_next", "Next control", show=False, system=True, tooltip="next control"
        ),
        Binding(
            "shift+tab",
            "focus_previous",
            "Previous",
            show=False,
            system=True,
            tooltip="previous control",
        ),
    ]
    """Every key that works everywhere; the footer, the palette and the help are made from
    these and the panes' own `BINDINGS` (a `system` binding is not a palette command)."""

    FOOTER_YIELDING: ClassVar[frozenset[str]] = frozenset(
        {TopicsScreen.binding().action, "toggle_recording"}
    )
    """Actions of app keys the footer shows while there is room: on a narrow line they give
    way first, before the focused pane's keys (f1 and the palette list them all)."""

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Callable[[], float] = time.time,
        completion_root: Path | None = None,
        export_dir: Path | None = None,
        record_compressed: bool = True,
        collection_dir: Path | None = None,
        environment: str | None = None,
        notices: Sequence[str] = (),
        standalone: bool = False,
    ) -> None:
        super().__init__()
        self.collection_dir = collection_dir or default_collection_dir() or Path(DEFAULT_DIR)
        self.environment = environment
        self.backend = backend
        self.clock = clock
        self.completion_root = completion_root
        self.export_dir = export_dir
        self.record_compressed = record_compressed
        self.recording: RecordingStatus | None = None
        """The recording in progress, as last reported (None: not recording)."""
        self._recording_wanted = False
        self._publisher_position = ""
        """What the publisher frame's title says of the feed it lists ("" with one feed)."""
        """`ctrl+r` asked to record and no stop was asked or reported since."""
        self.notices = list(notices)
        self.standalone = standalone
        self.connection_states: dict[str, str] = dict.fromkeys(SOCKET_NAMES, "connecting")
        self.connection_endpoints: dict[str, str | None] = {}
        self._mode_note = ""
        """What the connection bar adds to the mode: the cluster exited, or is restarting."""
        self.socket_events = SocketEventLog()
        """Every socket event since start-up (bounded), for the `l` log."""
        self.conversations: ConversationsView | None = None
        """The tap's conversations as last viewed (a new Conversations view starts with them)."""

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        embedded = self.backend.embedded
        with Horizontal(id="top-row", classes="pane-row"):
            yield PaneFrame(
                PublisherPane(embedded=embedded, clock=self.clock, id="publisher"), "1", "narrow"
            )
            yield PaneFrame(
                SubscriberPane(clock=self.clock, export_dir=self.export_dir, id="subscriber"),
                "2",
                "wide",
            )
        with Horizontal(id="bottom-row", classes="pane-row"):
            yield PaneFrame(
                ComposerPane(
                    self.completion_root, endpoint=self.backend.endpoints.req, id="composer"
                ),
                "3",
                "half",
            )
            # the app's clock: a frozen one keeps pictures of the pane from going stale
            workers = WorkersPane(embedded=embedded, clock=self.clock, id="workers")
            yield PaneFrame(workers, "4", "half")
        yield ConnectionBar(self.mode_description(), id="connection-bar")
        yield KeyBar()

    def mode_description(self) -> str:
        if self.backend.embedded:
            root = Path(self.backend.watch_path or ".").resolve()
            return f"embedded stack on {printable(str(root))}"
        return "attached (nothing started)"

    def on_mount(self) -> None:
        library = RequestLibrary(
            self.collection_dir, History(), self.environment, clock=self.clock, id="library"
        )
        self.composer_pane.place_side(library)
        self.backend.start(self)
        self.action_focus_pane("subscriber")
        for notice in self.notices:
            self.notify(notice, timeout=10, markup=False)
        if self.standalone:  # not before the first frame: the start-up is not over yet
            self.call_after_refresh(self.set_timer, 1.0, _freeze_gc)

    async def on_unmount(self) -> None:
        await self.backend.stop()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Show a notification as plain text, whoever asks: most carry text from a peer (a
        control reply, a decoder's complaint about a message), which must never be parsed as
        markup nor reach the terminal as control characters. `markup` is ignored (Textual's
        `Widget.notify` passes True)."""
        super().notify(
            printable(message, keep=MULTI_LINE),
            title=printable(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def frame(self, name: str) -> PaneFrame:
        return self.query_one(f"#{name}-frame", PaneFrame)

    @property
    def publisher_pane(self) -> PublisherPane:
        return self.query_one("#publisher", PublisherPane)

    @property
    def subscriber_pane(self) -> SubscriberPane:
        return self.query_one("#subscriber", SubscriberPane)

    @property
    def composer_pane(self) -> ComposerPane:
        return self.query_one("#composer", ComposerPane)

    @property
    def request_library(self) -> RequestLibrary:
        return self.query_one("#library", RequestLibrary)

    @property
    def workers_pane(self) -> WorkersPane:
        return self.query_one("#workers", WorkersPane)

    # --- from the backend ----------------------------------------------------------------------

    @_while_running
    def on_feed_viewed(self, message: FeedViewed) -> None:
        if message.view.stream == SubscriberPane.STREAM:
            self.subscriber_pane.show_view(message.view)
            self.publisher_pane.show_feeds(tuple(feed.name for feed in message.view.feeds))
        else:
            self.publisher_pane.show_view(message.view)
        self._title_publisher()

    def _title_publisher(self) -> None:
        """The publisher frame's title says which of several feeds the pane lists (asked at
        every view: the frame is looked up only when that changes)."""
        position = self.publisher_pane.feed_position()
        if position == self._publisher_position:
            return
        self._publisher_position = position
        frame = self.frame("publisher")
        frame.border_title = frame.base_title + (f" · {position}" if position else "")

    @_while_running
    def on_topics_viewed(self, message: TopicsViewed) -> None:
        if (view := self.view(TopicsScreen)) is not None:
            view.show_view(message.view)

    @_while_running
    def on_export_finished(self, message: ExportFinished) -> None:
        self.subscriber_pane.export_finished(message.result)

    @_while_running
    def on_recording_changed(self, message: RecordingChanged) -> None:
        status = message.status
        started = self.recording is None and not status.done
        self.recording = None if status.done else status
        self.query_one(ConnectionBar).set_recording(self.recording)
        where = printable(str(status.path)) if status.path is not None else ""
        if started:
            self.notify(
                f"recording every message of every feed to {where} (ctrl+r stops)", markup=False
            )
        if not status.done:
            return
        self._recording_wanted = False
        size = format_bytes(status.file_bytes)
        if status.error is None:
            self.notify(
                f"recorded {plural(status.messages, 'message')} ({size}) to {where}", markup=False
            )
        elif status.path is None:
            self.notify(status.error, severity="error", timeout=10, markup=False)
        else:
            written = f"{plural(status.messages, 'message')} ({size}) kept in {where}"
            self.notify(
                f"recording stopped: {status.error}; {written}",
                severity="error",
                timeout=10,
                markup=False,
            )

    @_while_running
    def on_events_published(self, message: EventsPublished) -> None:
        self.publisher_pane.add_events(message.events)

    @_while_running
    def on_publisher_status(self, message: PublisherStatus) -> None:
        self.publisher_pane.set_status(
            message.published, message.subscribers, message.subscriptions
        )

    @_while_running
    def on_snapshot_received(self, message: SnapshotReceived) -> None:
        self.workers_pane.update_snapshot(message.snapshot)
        if self._mode_note:  # a cluster answers again: no longer exited or restarting
            self._show_mode()

    @_while_running
    def on_request_finished(self, message: RequestFinished) -> None:
        self.composer_pane.show_result(message.result, send_id=message.send_id)
        self.request_library.settle(message.send_id, file_request_outcome, message.result)

    @_while_running
    def on_send_finished(self, message: SendFinished) -> None:
        self.composer_pane.show_send_result(message.result, send_id=message.send_id)
        self.request_library.settle(message.send_id, send_outcome, message.result)

    @_while_running
    def on_send_load_finished(self, message: SendLoadFinished) -> None:
        self.composer_pane.show_send_summary(message.summary, send_id=message.send_id)
        self.request_library.settle(message.send_id, load_outcome, message.summary)

    @_while_running
    def on_load_progressed(self, message: LoadProgressed) -> None:
        self.composer_pane.show_progress(message.done, message.total, send_id=message.send_id)
        self.request_library.progress(message.send_id, message.done)

    @_while_running
    def on_load_finished(self, message: LoadFinished) -> None:
        self.composer_pane.show_summary(message.summary, send_id=message.send_id)
        self.request_library.settle(message.send_id, load_outcome, message.summary)

    @_while_running
    def on_send_failed(self, message: SendFailed) -> None:
        self.composer_pane.show_failure(
            message.path,
            message.count,
            message.reason,
            send_id=message.send_id,
            cancelled=message.cancelled,
        )
        reason = "cancelled" if message.cancelled else message.reason
        self.request_library.settle(message.send_id, failure_outcome, reason)

    @_while_running
    def on_control_answered(self, message: ControlAnswered) -> None:
        reply = message.reply
        if reply.get("ok"):
            self.notify(str(reply.get("message") or f"{message.command}: done"), markup=False)
        else:
            self.notify(f"{message.command}: {reply.get('error')}", severity="error", markup=False)

    @_while_running
    def on_socket_events_logged(self, message: SocketEventsLogged) -> None:
        for event in message.events:
            self.socket_events.add(event)

    @_while_running
    def on_conversations_viewed(self, message: ConversationsViewed) -> None:
        self.conversations = message.view
        if (view := self.view(ConversationsScreen)) is not None:
            view.show_view(message.view)

    def on_conversations_wanted(self, message: ConversationsWanted) -> None:
        self.backend.view_conversations(message.rows)

    @_while_running
    def on_backend_problem(self, message: BackendProblem) -> None:
        severity = message.severity if message.severity in ("warning", "error") else "error"
        self.notify(message.text, severity=severity, timeout=8, markup=False)  # type: ignore[arg-type]

    @_while_running
    def on_cluster_exited(self, message: ClusterExited) -> None:
        self._show_mode(f"the cluster exited ({message.how})")
        self.workers_pane.set_cluster_exited(message.how)
        # A crash leaves its reason in the log; a signal (kill -9, the OOM killer) does not.
        tail = f":\n{message.log_tail}" if message.log_tail and message.code >= 0 else ""
        self.notify(
            f"the embedded cluster exited ({message.how}); R in the workers pane restarts it{tail}",
            severity="error",
            timeout=30 if tail else 10,
            markup=False,
        )

    def _show_mode(self, note: str = "") -> None:
        self._mode_note = note
        bar = self.query_one(ConnectionBar)
        bar.mode = self.mode_description() + (f" · {note}" if note else "")
        bar.refresh_text()

    @_while_running
    def on_connection_changed(self, message: ConnectionChanged) -> None:
        socket, state = message.socket, message.state
        self.connection_states[socket] = state
        if message.endpoint is not None:
            self.connection_endpoints[socket] = message.endpoint
        self.query_one(ConnectionBar).set_state(socket, state)
        for view in self.views():
            view.show_connection(socket, state)
        endpoint = self.connection_endpoints.get(socket)
        for frame in self.query(PaneFrame):
            if socket == frame.pane.SOCKET:
                subtitle = f"{endpoint} · {state}" if endpoint else state
                frame.border_subtitle = Text(printable(subtitle))
                frame.show_state_class(state_class(state))
                frame.pane.show_connection(state, endpoint, message.detail)

    # --- from the panes ------------------------------------------------------------------------

    def on_composer_pane_send_requested(self, message: ComposerPane.SendRequested) -> None:
        if message.send_id is not None:
            spec = RequestSpec(
                self.backend.endpoints.req or "", (file_request(message.path),), name=message.path
            )
            self.request_library.sent(message.send_id, spec, message.count, message.concurrency)
        self.backend.send_request(message.path, message.count, message.concurrency, message.send_id)

    def on_composer_pane_message_send_requested(
        self, message: ComposerPane.MessageSendRequested
    ) -> None:
        """The message goes with its `${variables}` filled from the collection's environment;
        one it does not know stops it, named."""
        try:
            spec = self.request_library.fill(message.spec)
        except CollectionError as exc:
            label = message.spec.name or "message"
            self.composer_pane.show_failure(label, message.count, str(exc), send_id=message.send_id)
            return
        if message.send_id is not None:
            self.request_library.sent(message.send_id, spec, message.count, message.concurrency)
        self.backend.send_message(spec, message.count, message.concurrency, message.send_id)

    async def on_request_library_request_chosen(
        self, message: RequestLibrary.RequestChosen
    ) -> None:
        await self.composer_pane.load_request(message.spec)
        self.composer_pane.fill_numbers(message.count, message.concurrency)
        self.composer_pane.action_edit()

    async def on_request_library_resend_wanted(self, message: RequestLibrary.ResendWanted) -> None:
        await self.composer_pane.load_request(message.spec)
        self.composer_pane.fill_numbers(message.count, message.concurrency)
        self.composer_pane.action_send()

    def on_composer_pane_cancel_requested(self, message: ComposerPane.CancelRequested) -> None:
        for send_id in message.send_ids:
            self.backend.cancel_send(send_id)

    def on_workers_pane_kill_requested(self, message: WorkersPane.KillRequested) -> None:
        self.backend.control("kill", pid=message.pid)

    def on_workers_pane_restart_requested(self, message: WorkersPane.RestartRequested) -> None:
        self.backend.control("restart", pid=message.pid)

    def on_workers_pane_scale_requested(self, message: WorkersPane.ScaleRequested) -> None:
        self.backend.control("scale", n=message.workers)

    def on_workers_pane_cluster_restart_requested(
        self, message: WorkersPane.ClusterRestartRequested
    ) -> None:
        self._show_mode("restarting the cluster")
        self.backend.restart_cluster()

    def on_view_wanted(self, message: ViewWanted) -> None:
        self.backend.view(message.stream, message.query)

    def on_topics_wanted(self, message: TopicsWanted) -> None:
        self.backend.topics(message.query)

    def on_topic_chosen(self, message: TopicChosen) -> None:
        """List only the chosen topic's messages: back to the subscriber pane, filtered."""
        self.subscriber_pane.show_only(message.expression)
        self.action_focus_pane("subscriber")

    def on_filter_changed(self, message: FilterChanged) -> None:
        self.backend.set_filter(message.stream, message.expression)

    def on_clear_wanted(self, message: ClearWanted) -> None:
        self.backend.clear(message.stream)

    def on_export_wanted(self, message: ExportWanted) -> None:
        self.backend.export(message.stream, message.directory, message.now)

    def on_subscriber_pane_subscriptions_changed(
        self, message: SubscriberPane.SubscriptionsChanged
    ) -> None:
        self.backend.set_prefixes(message.prefixes)

    def on_publisher_pane_publish_requested(self, message: PublisherPane.PublishRequested) -> None:
        self.backend.publish(message.file, message.event, message.dest)

    def on_publisher_pane_feed_chosen(self, message: PublisherPane.FeedChosen) -> None:
        self.backend.observe_feed(message.feed)
        self._title_publisher()

    # --- keys ------------------------------------------------------------------------------

    def action_toggle_recording(self) -> None:
        """Start recording the feed to a new file in the export directory, or stop it."""
        self._recording_wanted = not self._recording_wanted
        if self._recording_wanted:
            directory = self.export_dir or captures_dir()
            self.backend.start_recording(directory, self.clock(), self.record_compressed)
        else:
            self.backend.stop_recording()

    def action_help(self) -> None:
        from zmqtui.tui.help import HelpScreen, help_markdown  # imported when first asked

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(help_markdown(self)))

    def view_clock(self) -> float:
        """The time the views reckon "how long ago" from: now (a recording's: its position)."""
        return self.clock()

    def views(self) -> list[View]:
        """The views that exist now: the one up (under the help, maybe), and those kept."""
        kept = [
            self.get_screen(name)
            for name, view in VIEWS.items()
            if view.KEPT and self.is_screen_installed(name)
        ]
        screens = dict.fromkeys([*self.screen_stack, *kept])
        return [screen for screen in screens if isinstance(screen, View)]

    def view(self, kind: type[ViewT]) -> ViewT | None:
        """The view of type `kind`, if it is up or kept (None: nothing asked for it yet)."""
        return next((view for view in self.views() if isinstance(view, kind)), None)

    def action_view(self, name: str) -> None:
        """Show view `name` over the panes (leaving the view that is up), or close it if it is
        the one up."""
        kind = VIEWS[name]
        if isinstance(self.screen, kind):
            self.pop_screen()
            return
        self._close_views()
        if not kind.KEPT:
            self.push_screen(kind.create(self))
            return
        if not self.is_screen_installed(name):
            self.install_screen(kind.create(self), name)
        self.push_screen(name)

    def _close_views(self) -> None:
        """Back to the panes from the view that is up (one is at a time, over the panes)."""
        while isinstance(self.screen, View):
            self.pop_screen()

    def action_focus_pane(self, name: str) -> None:
        """Focus a pane's main control, showing the pane first if it was hidden (and leaving
        the view that is up, if one is)."""
        self._close_views()
        frame = self.frame(name)
        if not frame.display:
            frame.display = True
            self._fit_rows()
        if self.screen.maximized is not None and self.screen.maximized is not frame:
            self.screen.maximize(frame, container=False)
        frame.pane.main_control.focus()

    def focused_frame(self) -> PaneFrame | None:
        node = self.focused
        while node is not None and not isinstance(node, PaneFrame):
            node = node.parent  # type: ignore[assignment]
        return node

    @property
    def main_screen(self) -> Screen:
        """The panes' screen (`self.screen` is the palette's or the help's while they are up)."""
        return self.screen_stack[0]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what cannot be done now: `m` maximises or restores, `escape` leaves a field."""
        if action in PANE_ACTIONS and isinstance(self.screen, View):
            return False
        if action == "maximize":
            return self.main_screen.maximized is None
        if action == "restore":
            return self.main_screen.maximized is not None and not isinstance(self.focused, Input)
        if action == "leave_field":
            return isinstance(self.focused, Input)
        return True

    def action_leave_field(self) -> None:
        """From a text field back to the pane's main control, where the pane's keys work."""
        frame = self.focused_frame()
        if frame is not None:
            frame.pane.main_control.focus()

    def action_maximize(self) -> None:
        frame = self.focused_frame()
        if frame is not None:
            self.screen.maximize(frame, container=False)
            self.refresh_bindings()

    def action_restore(self) -> None:
        self.screen.minimize()
        self.refresh_bindings()

    def action_hide_pane(self) -> None:
        frame = self.focused_frame()
        if frame is None:
            return
        visible = [self.frame(name) for name in PANES if self.frame(name).display]
        if visible == [frame]:
            self.notify("the last pane stays", severity="warning", markup=False)
            return
        if self.screen.maximized is frame:
            self.screen.minimize()
        frame.display = False
        self._fit_rows()
        following = visible[(visible.index(frame) + 1) % len(visible)]
        self.action_focus_pane(following.pane_name)

    def action_show_all_panes(self) -> None:
        for name in PANES:
            self.frame(name).display = True
        self._fit_rows()

    def _fit_rows(self) -> None:
        """A row whose panes are all hidden gives its height to the other."""
        for row in self.query(".pane-row"):
            row.display = any(child.display for child in row.children)

    # --- keys, written once: what the palette and the help are made from -----------------

    def pane_bindings(self, name: str, *, navigation: bool = False) -> list[Binding]:
        """The keys pane `name` declares; with `navigation`, its main control's too."""
        frame = self.frame(name)
        bindings = declared_bindings(type(frame.pane))
        if navigation:
            bindings += declared_bindings(type(frame.pane.main_control))
        return bindings

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's theme and screenshot commands, then one command per key the app and the
        panes declare that can be used now."""
        for command in super().get_system_commands(screen):
            if command.title in TEXTUAL_COMMANDS_KEPT:
                yield command
        display = self.get_key_display
        app_bindings = [b for b in declared_bindings(type(self)) if not b.system]
        for entry in key_entries(app_bindings, display):
            binding = entry.binding
            if self._action_available(self, binding.action):
                yield SystemCommand(
                    binding.description,
                    f"{' '.join(entry.keys)}: {entry.text}",
                    functools.partial(self.call_later, self.run_action, binding.action),
                )
        for name in PANES:
            pane = self.frame(name).pane
            title = pane.TITLE
            for entry in key_entries(self.pane_bindings(name), display):
                binding = entry.binding
                if binding.system or not self._action_available(pane, binding.action):
                    continue
                yield SystemCommand(
                    f"{title}: {binding.description}",
                    f"{' '.join(entry.keys)}: {entry.text}",
                    functools.partial(self.call_later, self._run_in_pane, name, binding.action),
                )

    def _action_available(self, node: DOMNode, action: str) -> bool:
        """Whether `node` would run `action` now (its `check_action` does not say False)."""
        _, method, parameters = actions.parse(action)
        return node.check_action(method, parameters) is not False

    async def _run_in_pane(self, name: str, action: str) -> None:
        """Run a pane's key from the palette: as if pressed in that pane. A key shown dimmed
        (`check_action` None) runs too: its action says why it cannot act, as its key does."""
        self.action_focus_pane(name)
        pane = self.frame(name).pane
        _, method, parameters = actions.parse(action)
        if pane.check_action(method, parameters) is None:
            ran = getattr(pane, f"action_{method}")(*parameters)
            if inspect.isawaitable(ran):
                await ran
        else:
            await pane.run_action(action)


PANE_ACTIONS = frozenset({"maximize", "restore", "hide_pane", "show_all_panes"})
"""What only acts on the panes' screen (a view hides them)."""


TEXTUAL_COMMANDS_KEPT = frozenset({"Theme", "Screenshot"})
"""Textual's other palette commands duplicate ours (Quit, Keys, Maximize, Minimize)."""


YOUNG_GC_THRESHOLD = 10_000
"""Allocations between collections of the youngest generation (Python's default: 700)."""


def _freeze_gc() -> None:
    """Keep full collections rare and short: they stop the screen and the keys.

    A full collection walks every tracked object. The start-up's objects live as long as the
    app, so they are frozen out of it; what remains is mostly the captured messages. Rendering
    makes thousands of short-lived reference cycles a second (Textual's strips and their
    caches): collected young in bigger batches, fewer of them live long enough to be promoted,
    and the old generation fills, and is walked, far less often.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, old)
