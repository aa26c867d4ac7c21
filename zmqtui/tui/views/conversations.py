"""The Conversations view (`v`): request/reply pairs a tap saw, live, and latency percentiles by
client and by worker.

The backend reads the tap and sends a `ConversationsView` at most once per frame while the view
is open, holding only the pairs that fit on screen; the view only draws it. Everything in it
came from a peer: it is shown as plain text, controls escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import Static

from zmqtui.conversations import Conversation, ConversationsView, LatencyRow
from zmqtui.format import clock_time, plural
from zmqtui.text import printable
from zmqtui.tui.messages import ConversationsWanted
from zmqtui.tui.views.base import View
from zmqtui.tui.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from zmqtui.tui.app import ZmqtuiApp

NO_TAP = (
    "No tap to read: start one with `zmqtui tap --listen EP --forward EP --pairs EP2` and "
    "attach with `zmqtui --tap EP2`, or run the embedded stack with `zmqtui --with-tap`."
)
WAITING = "Waiting for the tap's first pair…"
CLIENT_CHARS = 14
NAME_CHARS = 9
"""Columns a latency table gives a name at least (up to `MAX_NAME_CHARS` when it is wider)."""
MAX_NAME_CHARS = 24
FIGURES_CHARS = 29
"""Columns of a latency table's figures (pairs, !!, p50, p90, p99)."""


class ConversationsScreen(View):
    """Pairs as they come (time, client, latency, pid, request → reply), flagged when a request
    got no reply within the tap's timeout, and p50/p90/p99 latency by client and by worker.

    Args:
        endpoint: where the tap publishes its pairs (None: no tap to read).
        state: the tap's socket's state when the view opens.
    """

    NAME = "conversations"
    KEY = "v"
    DESCRIPTION = "Conversations"
    TOOLTIP = "request/reply pairs a tap sees, latency by client and worker (--tap)"

    HELP = (
        "Which client asked, which worker answered and how long it took: the request/reply "
        "pairs a tap sees, live (`zmqtui --tap EP` names a tap's `--pairs` endpoint, "
        "`zmqtui --with-tap` puts one in front of the embedded cluster). The latest pairs, "
        "newest at the bottom: the time, the client, the latency, the pid that answered, the "
        "request and the reply in the frame syntax of `zmqtui send`; `!! no reply` marks a "
        "request the tap saw no reply to within its timeout. Below, the busiest clients and "
        "workers with their pairs, requests without a reply (`!!`) and latency p50, p90 and "
        "p99 in ms. The title says the tap socket's state."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v,escape", "dismiss", "Close", tooltip="close the Conversations view"),
    ]

    DEFAULT_CSS = """
    ConversationsScreen {
        #conversations-title { height: 1; padding: 0 1; text-style: bold; }
        #conversations-totals { height: 1; padding: 0 1; color: $text-muted; }
        #conversations-pairs {
            height: 1fr;
            border: round $panel-lighten-2;
            border-title-color: $text;
            padding: 0 1;
        }
        #conversations-latency { height: 9; }
        .latency-table {
            width: 1fr;
            border: round $panel-lighten-2;
            border-title-color: $text;
        }
        #conversations-pairs, .latency-table { text-wrap: nowrap; text-overflow: ellipsis; }
    }
    """

    def __init__(self, endpoint: str | None, state: str | None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.state = state
        self.view: ConversationsView | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="conversations-title")
        yield Static(id="conversations-totals")
        pairs = Static(id="conversations-pairs")
        pairs.border_title = "Latest pairs"
        yield pairs
        with Horizontal(id="conversations-latency"):
            clients = Static(id="latency-clients", classes="latency-table")
            clients.border_title = "Latency by client (ms)"
            yield clients
            workers = Static(id="latency-workers", classes="latency-table")
            workers.border_title = "Latency by worker (ms)"
            yield workers
        yield KeyBar()

    @classmethod
    def create(cls, app: ZmqtuiApp) -> Self:
        """The view of the app's tap, showing the conversations last viewed until new come."""
        screen = cls(app.backend.endpoints.tap, app.connection_states.get("tap"))
        screen.view = app.conversations
        return screen

    def on_mount(self) -> None:
        self._draw()

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._ask)
        self.call_after_refresh(self._draw)

    def ask(self) -> None:
        self.call_after_refresh(self._ask)

    def _ask(self) -> None:
        """Tell the backend how many pairs fit (a `ConversationsViewed` answers)."""
        if self.asking:
            rows = max(1, self.query_one("#conversations-pairs").content_size.height - 1)
            self.post_message(ConversationsWanted(rows))

    def stop_asking(self) -> None:
        self.app.post_message(ConversationsWanted(0))

    def show_connection(self, socket: str, state: str) -> None:
        if socket == "tap":
            self.state = state
            self.query_one("#conversations-title", Static).update(self._title(), layout=False)

    def show_view(self, view: ConversationsView) -> None:
        self.view = view
        self._draw()

    def _title(self) -> Text:
        title = Text("Conversations")
        if self.endpoint is not None:
            title.append(f" · tap {printable(self.endpoint)} · {self.state or 'connecting'}")
        return title

    def _draw(self) -> None:
        view = self.view
        totals = self.query_one("#conversations-totals", Static)
        pairs = self.query_one("#conversations-pairs", Static)
        if self.endpoint is None or view is None:
            totals.update("", layout=False)
            pairs.update(Text(NO_TAP if self.endpoint is None else WAITING), layout=False)
            self._latency(None)
            return
        totals.update(
            f"{plural(view.pairs, 'pair')} · {view.no_reply:,} without a reply"
            + (f" · {plural(view.malformed, 'message')} not a pair" if view.malformed else ""),
            layout=False,
        )
        pairs.update(pairs_text(view.recent) if view.recent else Text(WAITING), layout=False)
        self._latency(view)

    def _latency(self, view: ConversationsView | None) -> None:
        clients = () if view is None else view.clients
        workers = () if view is None else view.workers
        for selector, heading, rows in (
            ("#latency-clients", "client", clients),
            ("#latency-workers", "pid", workers),
        ):
            table = self.query_one(selector, Static)
            table.update(latency_text(heading, rows, table.content_size.width))


def pairs_text(recent: tuple[Conversation, ...]) -> Text:
    """One line per pair, newest last: time, client, latency (or the flag), pid, request and
    reply."""
    text = Text()
    text.append(
        f"{'time':<12} {'client':<{CLIENT_CHARS}} {'latency':>9} {'pid':>7}  request → reply",
        "bold",
    )
    for pair in recent:
        text.append("\n")
        text.append(f"{clock_time(int(pair.time_ms))[:12]:<12} ")
        text.append(f"{cell(pair.client, CLIENT_CHARS)} ")
        request = printable(pair.request)
        if pair.reply is None or pair.latency_ms is None:
            why = "no reply" if pair.no_reply == "timeout" else "given up"
            text.append(" " * (17 - len(why) - 3))
            text.append(f"!! {why}", "bold red")
            text.append(f"  {request}")
            continue
        pid = "-" if pair.pid is None else str(pair.pid)
        text.append(f"{format_ms(pair.latency_ms) + ' ms':>9} {pid:>7}  ")
        text.append(request)
        text.append(" → ", "dim")
        text.append(printable(pair.reply))
    return text


def latency_text(heading: str, rows: tuple[LatencyRow, ...], width: int = 0) -> Text:
    """A small table, in `width` columns (half of 80 at least): name, pairs, requests without
    a reply, p50, p90, p99."""
    name = min(max(NAME_CHARS, width - FIGURES_CHARS), MAX_NAME_CHARS)
    text = Text()
    text.append(
        f"{heading:<{name}} {'pairs':>6} {'!!':>3} {'p50':>5} {'p90':>5} {'p99':>5}", "bold"
    )
    for row in rows:
        text.append("\n")
        no_reply = str(row.no_reply)
        text.append(f"{cell(row.name, name)} {row.pairs:>6} {' ' * (3 - len(no_reply))}")
        text.append(no_reply, "bold red" if row.no_reply else "")
        for value in (row.p50, row.p90, row.p99):
            text.append(f" {format_ms(value):>5}")
    return text


def cell(value: str, width: int) -> str:
    """`value` as plain text in `width` columns: padded, or cut in the middle (`006b…456b`:
    clients named by libzmq differ at the end, named ones often at both ends)."""
    shown = printable(value)
    if len(shown) > width:
        head = (width - 1) // 2
        shown = shown[:head] + "…" + shown[len(shown) - (width - 1 - head) :]
    return shown.ljust(width)


def format_ms(value: float | None) -> str:
    """A latency in ms in at most 5 characters: 0.41, 12.3, 1234, 56k."""
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    if value < 10_000:
        return f"{value:.0f}"
    return f"{value / 1000:.0f}k"
