"""The socket-events log (`l`): every connect, disconnect, retry and failed handshake of the
monitor's sockets, as a timeline.

The app keeps the events (`zmqtui.socket_events.SocketEventLog`, bounded) from start-up on,
whether the log is open or not; the log repaints at most once per frame, and only when an
event came. A failed handshake says why in plain words ("the server's key does not match").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from zmqtui.format import clock_time
from zmqtui.socket_events import SocketEvent, SocketEventLog
from zmqtui.text import printable
from zmqtui.tui.views.base import View
from zmqtui.tui.widgets.frame_clock import FRAMES_PER_S
from zmqtui.tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from zmqtui.tui.app import ZmqtuiApp

BAD_EVENTS = frozenset({"handshake failed", "failed", "disconnected"})
EMPTY = "No socket event yet."


class SocketEventsScreen(View):
    """The log of socket events, oldest first, following the newest.

    Args:
        log: the events, kept by the app from start-up on (the view asks the backend nothing).
    """

    NAME = "socket_events"
    KEY = "l"
    DESCRIPTION = "Socket events"
    TOOLTIP = "log of every connect, disconnect, retry and failed handshake"

    HELP = (
        "Every connect, disconnect, retry and failed handshake of the monitor's own sockets "
        "(the feeds', the requests pane's, the stats, control and tap sockets), oldest first, "
        "following the newest: the time, the socket, the endpoint and the event (**connecting**, "
        "**connected**, **retrying**, **disconnected**, **handshake failed** with why in plain "
        "words, such as a server key that does not match, or **failed**). A peer that keeps "
        "retrying is one line whose count grows. The latest 500 events are kept from start-up "
        "on, whether the log is open or not."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("l,escape", "dismiss", "Close", tooltip="close the socket-events log"),
    ]

    DEFAULT_CSS = """
    SocketEventsScreen {
        #socket-events-title { height: 1; padding: 0 1; text-style: bold; }
        #socket-events-scroll {
            height: 1fr;
            border: round $panel-lighten-2;
            padding: 0 1;
        }
    }
    """

    def __init__(self, log: SocketEventLog) -> None:
        super().__init__()
        self.log_events = log
        self._shown = -1

    @classmethod
    def create(cls, app: ZmqtuiApp) -> Self:
        return cls(app.socket_events)

    def compose(self) -> ComposeResult:
        yield Static(
            Text("Socket events · every connect, disconnect, retry and failed handshake"),
            id="socket-events-title",
        )
        with VerticalScroll(id="socket-events-scroll"):
            yield Static(id="socket-events")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#socket-events-scroll").focus()
        self._repaint()
        self.set_interval(1 / FRAMES_PER_S, self._repaint)

    def _repaint(self) -> None:
        if self.log_events.generation == self._shown:
            return
        self._shown = self.log_events.generation
        scroll = self.query_one("#socket-events-scroll", VerticalScroll)
        following = scroll.scroll_y >= scroll.max_scroll_y
        self.query_one("#socket-events", Static).update(events_text(self.log_events))
        if following:
            scroll.call_after_refresh(scroll.scroll_end, animate=False)


def events_text(events: SocketEventLog) -> Text:
    """One line per event: time, socket, endpoint, event, and why when it says."""
    if not len(events):
        return Text(EMPTY)
    text = Text(no_wrap=True, overflow="ellipsis")
    for index, event in enumerate(events):
        if index:
            text.append("\n")
        text.append_text(event_line(event))
    return text


def event_line(event: SocketEvent) -> Text:
    """Time (of the latest repeat), socket, endpoint, event, how often since when, why."""
    line = Text()
    line.append(f"{clock_time(int(event.latest_ms))} {event.socket:<8} ")
    line.append(f"{printable(event.endpoint):<22} ")
    line.append(event.event, "bold red" if event.event in BAD_EVENTS else "bold")
    if event.repeats > 1:
        since = clock_time(int(event.time_ms))[:8]  # to the second: the line fits 80 columns
        line.append(f" (×{event.repeats:,} since {since})", "dim")  # noqa: RUF001
    if event.detail:
        line.append(f": {printable(event.detail)}")
    return line
