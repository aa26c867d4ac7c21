"""The topics view (`t`): messages, rate, bytes, share, last seen and gaps per feed and topic.

It answers "what is flooding this bus?" at a glance: the busiest topic on top, a rate
sparkline per feed, and one for the topic chosen with `enter` (which also filters the
subscriber pane's list to it). The counts are kept on the ingest side; the screen asks for the
table a few times a second while it is up (`TopicsWanted`) and shows each `TopicsView` it gets.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, Self

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Sparkline, Static

from zmqtui.decoders.message import topic_text
from zmqtui.format import NO_VALUE, format_bytes, format_duration, format_rate, plural
from zmqtui.text import printable
from zmqtui.topicstats import (
    NS_PER_S,
    OTHER_TOPICS,
    SortKey,
    TopicKey,
    TopicRow,
    TopicsQuery,
    TopicsView,
)
from zmqtui.tui.messages import TopicsWanted
from zmqtui.tui.views.base import View
from zmqtui.tui.widgets.key_bar import KeyBar
from zmqtui.tui.widgets.table import Cell, Column, LiveTable

if TYPE_CHECKING:
    from zmqtui.tui.app import ZmqtuiApp

HISTORY = 60
"""Samples a sparkline shows (one a second, a cell each at most): padded with zeros so a graph
fills from the right."""

COLUMNS = (
    Column("feed", "feed", 22, drop_order=3),
    Column("topic", "topic", 20, grow_to=48),
    Column("messages", "messages", 9, "right"),
    Column("rate", "rate", 8, "right"),
    Column("bytes", "bytes", 7, "right"),
    Column("share", "share", 6, "right", drop_order=2),
    Column("last", "last seen", 9, "right", drop_order=1),
    Column("missed", "gaps", 6, "right"),
)

SORTS: dict[str, SortKey] = {
    "messages": "messages",
    "rate": "rate",
    "bytes": "bytes",
    "share": "messages",
    "last": "last",
    "missed": "missed",
    "topic": "topic",
    "feed": "feed",
}
"""The order each column's header sorts by (a topic's share follows its messages)."""

CYCLE: tuple[SortKey, ...] = ("messages", "rate", "bytes", "last", "missed", "topic", "feed")
"""The orders `s` steps through."""

ASCENDING_FIRST = frozenset({"topic", "feed"})
"""Orders that start A to Z; the counts start with the biggest."""

SORT_NAMES = {"missed": "gaps", "last": "last seen"}


def topic_filter(key: TopicKey, *, with_feed: bool) -> str:
    """The subscriber filter (`zmqtui.feedfilter` field query) that lists only topic `key`:
    `@topic=NAME`, `@notopic=true` for messages without one (the `(no topic)` row; a topic
    named `null` is `@topic=null`); `@feed=` first with several feeds.
    NAME and the feed are escaped as the screen shows them (the topic as the filter compares
    it, `DecodedMessage.topic_text`), so no control character reaches the filter's field."""
    feed, topic = key
    query = "@notopic=true" if topic is None else f"@topic={shlex.quote(topic_text(topic))}"
    return f"@feed={shlex.quote(printable(feed))} {query}" if with_feed else query


def padded(history: Sequence[float]) -> list[float]:
    """The last `HISTORY` samples, zeros before the first."""
    recent = list(history[-HISTORY:])
    return [0.0] * (HISTORY - len(recent)) + recent


@dataclass
class TopicChosen(Message):
    """The user chose a topic in the topics view (`enter`): list only its messages."""

    key: TopicKey
    expression: str
    """The subscriber filter that selects it."""


class RateLine(Horizontal):
    """A label (what, how fast now) and its rate history as a sparkline."""

    DEFAULT_CSS = """
    RateLine {
        height: 1;
        & > Static { width: 36; }
        & > Sparkline { width: 1fr; max-width: 60; }
        &.-hint > Static { width: 1fr; color: $text-muted; }
        &.-hint > Sparkline { display: none; }
    }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: tuple[str, tuple[float, ...]] | None = None
        self.label = Static()
        self.sparkline = Sparkline(padded(()))

    def compose(self) -> ComposeResult:
        yield self.label
        yield self.sparkline

    def show(self, label: str, history: Sequence[float]) -> None:
        """`label` (plain text) and the sparkline of `history`; repainted only on a change."""
        shown = (label, tuple(history))
        if shown == self._shown:
            return
        self._shown = shown
        self.label.update(Text(printable(label), no_wrap=True, overflow="ellipsis"))
        self.sparkline.data = padded(history)


class TopicsScreen(View):
    """Per feed and topic: messages, rate, bytes, share, last seen and gaps, sortable.

    Args:
        clock: seconds since the epoch, for how long ago a topic was last seen.
    """

    NAME = "topics"
    KEY = "t"
    DESCRIPTION = "Topics"
    TOOLTIP = "the topics view: messages, rate, bytes and gaps per feed and topic"
    KEPT = True  # its order and chosen topic stay from one opening to the next

    HELP = (
        "What floods the bus: per feed and topic, the messages taken in, their rate over the "
        "last second, bytes, share of all messages, how long ago the last one came and the gaps "
        "its `seq` shows; a rate sparkline per feed, and one for the topic chosen with `enter` "
        "(from the moment it is chosen), which also lists only that topic's messages in the "
        "subscriber pane (`@topic=NAME` in its filter)."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "next_sort", "Sort", tooltip="sort by the next column (or click a header)"),
        Binding("r", "reverse", "Reverse", tooltip="reverse the order"),
        Binding(
            "enter",
            "choose",
            "Filter",
            tooltip="list only this topic's messages in the subscriber pane, and follow its rate",
        ),
        Binding("escape,t", "close", "Back", tooltip="back to the panes"),
    ]

    DEFAULT_CSS = """
    TopicsScreen {
        & > #topics-summary { height: 1; padding: 0 1; background: $panel; }
        & > #topics-feeds { height: auto; max-height: 4; padding: 0 1; }
        & > #topics-table { height: 1fr; }
        & > #topics-chosen { padding: 0 1; }
    }
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__()
        self.clock = clock
        self.topics_query = TopicsQuery()
        """What the screen asks for: its order, and the topic chosen (watched)."""
        self.view: TopicsView | None = None
        self._feeds: tuple[str, ...] = ()
        self._several_feeds = False

    def compose(self) -> ComposeResult:
        yield Static(id="topics-summary")
        yield VerticalScroll(id="topics-feeds")
        yield TopicsTable(COLUMNS, id="topics-table")
        yield RateLine(id="topics-chosen")
        yield KeyBar()

    @property
    def table(self) -> TopicsTable:
        return self.query_one(TopicsTable)

    def on_mount(self) -> None:
        self._show_summary()
        self._show_chosen()

    @classmethod
    def create(cls, app: ZmqtuiApp) -> Self:
        return cls(app.view_clock)

    def on_screen_resume(self) -> None:
        self.table.focus()

    def ask(self) -> None:
        self.post_message(TopicsWanted(self.topics_query))

    def stop_asking(self) -> None:
        self.app.post_message(TopicsWanted(None))

    # --- what the ingest side answered -----------------------------------------------------

    def show_view(self, view: TopicsView) -> None:
        """Show the counts the ingest side sent (a view for an older query is skipped)."""
        if view.query != self.topics_query:
            return
        self.view = view
        now_ns = int(self.clock() * NS_PER_S)
        self._several_feeds = len(view.feeds) > 1
        self.table.hide_columns(() if self._several_feeds else ("feed",))
        self.table.set_rows((row_key(row), self._cells(row, now_ns)) for row in view.rows)
        self._show_feeds(view)
        self._show_summary()
        self._show_chosen()

    def _cells(self, row: TopicRow, now_ns: int) -> list[Cell]:
        topic: Cell = row.topic_text
        if row.topic is None or row.topic == OTHER_TOPICS:
            topic = Text(row.topic_text, style="italic")
        ago_ns = max(0, now_ns - row.last_ns)  # a float clock may round to just before it
        last = format_duration(ago_ns / NS_PER_S) if row.last_ns else NO_VALUE
        return [
            printable(row.feed),
            topic,
            f"{row.messages:,}",
            format_rate(row.rate),
            format_bytes(row.bytes),
            f"{row.share:.1%}",
            last,
            f"{row.missed:,}" if row.missed else "",
        ]

    def _show_feeds(self, view: TopicsView) -> None:
        box = self.query_one("#topics-feeds", VerticalScroll)
        feeds = tuple(feed.feed for feed in view.feeds)
        if feeds != self._feeds:
            self._feeds = feeds
            box.remove_children()
            box.mount_all(RateLine() for _ in feeds)
        lines = box.query(RateLine)
        for line, feed in zip(lines, view.feeds, strict=False):
            line.show(f"{feed.feed}  {format_rate(feed.rate)}", feed.history)

    def _show_summary(self) -> None:
        order = self.topics_query.sort
        arrow = "↓" if self.topics_query.descending else "↑"
        text = f"Topics · sorted by {SORT_NAMES.get(order, order)} {arrow}"
        view = self.view
        if view is not None:
            shown = "" if len(view.rows) == view.topics else f" (the first {len(view.rows):,})"
            text += (
                f" · {plural(view.topics, 'topic')}{shown}"
                f" · {plural(view.total, 'message')} in {plural(len(view.feeds), 'feed')}"
            )
        self.query_one("#topics-summary", Static).update(Text(text, no_wrap=True))

    def _show_chosen(self) -> None:
        line = self.query_one("#topics-chosen", RateLine)
        watched = self.topics_query.watched
        line.set_class(watched is None, "-hint")
        if watched is None:
            line.show("enter on a topic: list only its messages, and follow its rate here", ())
            return
        rate = None
        if self.view is not None:
            rate = next((r.rate for r in self.view.rows if row_key(r) == watched), None)
        name = TopicRow(watched[0], watched[1], 0, 0, 0.0, 0.0, 0, 0).topic_text
        history = self.view.watched_history if self.view is not None else ()
        line.show(f"chosen: {name}  {format_rate(rate)}", history)

    # --- keys --------------------------------------------------------------------------

    def _ask(self, query: TopicsQuery) -> None:
        self.topics_query = query
        self._show_summary()
        self._show_chosen()
        self.post_message(TopicsWanted(query))

    def sort_by(self, sort: SortKey) -> None:
        """Sort by `sort`; the order it is already sorted by is reversed instead."""
        if sort == self.topics_query.sort:
            self.action_reverse()
        else:
            self._ask(replace(self.topics_query, sort=sort, descending=sort not in ASCENDING_FIRST))

    def action_next_sort(self) -> None:
        """Sort by the next column on screen (the feed column shows only with several feeds,
        last seen gives way on a narrow screen: an order nobody can see is skipped)."""
        shown = {column.key for column in self.table.shown_columns}
        cycle = [sort for sort in CYCLE if sort in shown] or list(CYCLE)
        order = self.topics_query.sort
        current = cycle.index(order) if order in cycle else -1
        self.sort_by(cycle[(current + 1) % len(cycle)])

    def action_reverse(self) -> None:
        self._ask(replace(self.topics_query, descending=not self.topics_query.descending))

    def action_choose(self) -> None:
        key = self.table.cursor_key
        if key is None:
            self.notify("no topic counted yet", severity="warning", markup=False)
            return
        assert isinstance(key, tuple)
        self._ask(replace(self.topics_query, watched=key))
        expression = topic_filter(key, with_feed=self._several_feeds)
        self.post_message(TopicChosen(key, expression))

    def action_close(self) -> None:
        self.dismiss()

    def on_topics_table_header_clicked(self, event: TopicsTable.HeaderClicked) -> None:
        self.sort_by(SORTS[event.column])


def row_key(row: TopicRow) -> TopicKey:
    return (row.feed, row.topic)


class TopicsTable(LiveTable):
    """The topics' table; a click on a header sorts by that column."""

    @dataclass
    class HeaderClicked(Message):
        """The user clicked the header of column `column` (its key)."""

        column: str

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y != 0:
            super()._on_click(event)
            return
        x = offset.x + round(self.scroll_offset.x)
        for column in self.shown_columns:
            if x < column.width:
                self.post_message(self.HeaderClicked(column.key))
                return
            x -= column.width + 1
