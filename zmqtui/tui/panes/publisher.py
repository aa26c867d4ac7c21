"""The publisher pane: what the watcher publishes, live, and a way to publish by hand.

With the embedded stack the pane shows the in-process publisher itself: every event it sends,
its exact count, and the subscribers and subscriptions its XPUB socket sees. Attached to a
publisher elsewhere, it shows what a SUB socket subscribed to everything receives from it;
who else subscribes is then only known to that publisher.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from zmqtui.captures import Capture, FeedStatus, FeedView, ViewQuery
from zmqtui.format import clock_time, format_rate
from zmqtui.protocol import ChangeEvent
from zmqtui.text import printable
from zmqtui.tui.messages import ViewWanted
from zmqtui.tui.panes.base import OfflineBanner, Pane
from zmqtui.tui.widgets.feed import (
    MAX_SHOWN_CHARS,
    NARROW_ROWS,
    RateMeter,
    feed_label,
    message_text,
    printable_frame,
)
from zmqtui.tui.widgets.fitted_line import FittedLines, Part
from zmqtui.tui.widgets.live_text import LiveText
from zmqtui.tui.widgets.ring_log import RingLog, Window

EVENT_KINDS = ("created", "modified", "deleted", "moved")
"""Kinds of change a hand-made event can have; `modified` when none is given."""

MANUAL_EVENT_HELP = "FILE [created|modified|deleted], or FILE moved DEST; quote names with spaces"

PublishedItem = ChangeEvent | Capture

SHORT_FEED_CHARS = 12
"""The width a feed's name is cut to when the whole of it does not fit."""


@dataclass(frozen=True, slots=True)
class ManualEvent:
    """An event typed by the user: `file`, its kind, and where a move went."""

    file: str
    kind: str = "modified"
    dest: str | None = None


def parse_manual_event(line: str) -> ManualEvent | None:
    """`FILE [KIND]` or `FILE moved DEST` as typed (shell quoting for names with spaces), or
    None for an empty line.

    Raises:
        ValueError: the line says something else; the message says what is expected.
    """
    try:
        words = shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise ValueError(f"{exc}: {MANUAL_EVENT_HELP}") from None
    if not words:
        return None
    file, *rest = words
    if not rest:
        return ManualEvent(file)
    kind, *dest = rest
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown kind {kind!r}: {MANUAL_EVENT_HELP}")
    if kind == "moved":
        if len(dest) != 1:
            raise ValueError(f"a move takes one destination: {file} moved DEST")
        return ManualEvent(file, kind, dest[0])
    if dest:
        raise ValueError(f"too many words after {kind!r}: {MANUAL_EVENT_HELP}")
    return ManualEvent(file, kind)


PATH_TOPIC = b'{"type":"changed","file":"'
"""How every change event starts on the wire: a subscription to this plus the beginning of a
path selects events by path (`zmqtui.services.subscriber.topic_for` makes such prefixes)."""


def describe_topic(topic: bytes) -> str:
    """A subscription as a person reads it: everything, a path prefix, or the raw bytes."""
    if not topic:
        return "everything"
    if topic.startswith(PATH_TOPIC):
        return f'path "{printable_frame(topic[len(PATH_TOPIC) :], 24)}"'
    return f'"{printable_frame(topic, 24)}"'


def format_subscriptions(subscriptions: dict[bytes, int], limit: int = 6) -> str:
    """`everything (2), path "src/" (1)`: each topic readable and escaped, with its count."""
    if not subscriptions:
        return "none"
    parts = [
        f"{describe_topic(topic)} ({count})"
        for topic, count in sorted(subscriptions.items())[:limit]
    ]
    if len(subscriptions) > limit:
        parts.append(f"+{len(subscriptions) - limit} more")
    return ", ".join(parts)


class PublisherPane(Pane):
    """Events published (or, attached, received from the publisher), with counts and rate."""

    TITLE = "Publisher"
    SOCKET = "pub"
    HELP = (
        "Every event the watcher publishes (seq, kind, time, path), the count and "
        "rate, the subscribers connected to its XPUB socket and their subscriptions. Attached, "
        "the pane shows what a SUB socket receives from the publisher: with several feeds, "
        "one of them, named on its second line and counted in its title (the first `--sub` or "
        "`[[feeds]]` table; `f` lists the next one, its list and count started again); the "
        "subscriber pane shows them all. Under 60 columns a row leaves out its time."
    )

    STREAM = "observer"
    """Attached, the ingest side's name for what this pane lists."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "n",
            "compose_event",
            "Publish",
            tooltip="publish by hand: type `FILE [created|modified|deleted]` or "
            "`FILE moved DEST` (quote names with spaces), then enter",
        ),
        Binding(
            "f",
            "next_feed",
            "Feed",
            tooltip="attached to several feeds: list the next one (its list and count start again)",
        ),
    ]

    DEFAULT_CSS = """
    PublisherPane {
        #publisher-stats { height: 2; padding: 0 1; }
        #publisher-log { height: 1fr; width: 100%; }  /* 100%: see `Pane` */
        #publisher-input { margin: 0 1; }
        &.-attached #publisher-input { display: none; }
        &.-offline #publisher-stats { display: none; }
    }
    """

    @dataclass
    class PublishRequested(Message):
        """The user typed an event to publish by hand (`dest`: where a move went)."""

        file: str
        event: str
        dest: str | None = None

    @dataclass
    class FeedChosen(Message):
        """The user chose the feed the pane lists (attached, several feeds)."""

        feed: str

    def __init__(
        self,
        *,
        embedded: bool,
        clock: Callable[[], float],
        capacity: int = 10_000,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id, classes="" if embedded else "-attached")
        self.embedded = embedded
        self.clock = clock
        self.capacity = capacity
        self.published = 0
        """Events published (embedded) or received (attached) - exact, whatever the log holds."""
        self.subscribers: int | None = None
        self.subscriptions: dict[bytes, int] = {}
        self.observed: FeedStatus | None = None
        """Attached: the feed the pane lists, as the latest view told it."""
        self.chosen: str | None = None
        """Attached: the feed the user chose with `f` (None: the first), until a view lists it."""
        self.feeds: tuple[str, ...] = ()
        """Attached: the names of the feeds the monitor takes in (the subscriber pane's)."""
        self._rates = RateMeter()

    def compose(self) -> ComposeResult:
        yield OfflineBanner()
        yield LiveText(id="publisher-stats")
        yield RingLog[PublishedItem](
            self._format_line, self.capacity, fetched=not self.embedded, id="publisher-log"
        )
        yield Input(
            placeholder="publish: FILE [KIND] or FILE moved DEST ⏎",
            id="publisher-input",
            compact=True,
        )

    def on_mount(self) -> None:
        self._show_stats()
        self.set_interval(1.0, self._tick, name="publisher rate")

    @property
    def log_view(self) -> RingLog[PublishedItem]:
        return self.query_one("#publisher-log", RingLog)

    @property
    def main_control(self) -> RingLog[PublishedItem]:
        """The list of events."""
        return self.log_view

    # --- feeding ---------------------------------------------------------------------------

    def add_events(self, events: list[ChangeEvent]) -> None:
        """Events the embedded publisher sent. Its `seq` counts every event it published, so
        the newest one's is the count (`set_status` may have told it already)."""
        self.published = max(self.published, max(e.seq or 0 for e in events))
        self.log_view.extend(events)
        self._rates.observe(self.clock(), self.published)
        self._show_stats()

    def show_view(self, view: FeedView) -> None:
        """Attached: what the ingest side took in from the publisher, and the rows asked for."""
        self.published = view.received
        self.observed = view.feeds[0] if view.feeds else None
        if self.observed is not None and self.observed.name == self.chosen:
            self.chosen = None  # the view lists the chosen feed: it speaks for itself now
        self.log_view.show(Window(view.first, view.appended, view.rows_start, view.rows))
        self._rates.observe(self.clock(), self.published)
        self._show_stats()

    def show_feeds(self, names: tuple[str, ...]) -> None:
        """The monitor takes in the feeds `names`: with several, the pane says which it lists
        and `f` lists the next."""
        if names != self.feeds:
            self.feeds = names
            self._show_stats()
            self.refresh_bindings()

    @property
    def listed_feed(self) -> str | None:
        """The name of the feed the pane lists (the one chosen, before a view confirms it)."""
        if self.chosen is not None:
            return self.chosen
        return None if self.observed is None else self.observed.name

    def feed_position(self) -> str:
        """`feed K of N` with several feeds (which one the pane lists), else ""."""
        if len(self.feeds) < 2:
            return ""
        return f"feed {self._listed_number()} of {len(self.feeds)}"

    def _listed_number(self) -> int:
        """Where the listed feed is among the feeds, from 1 (the first when not among them)."""
        listed = self.listed_feed
        return self.feeds.index(listed) + 1 if listed in self.feeds else 1

    def on_ring_log_window_moved(self, event: RingLog.WindowMoved) -> None:
        event.stop()
        self.post_message(ViewWanted(self.STREAM, ViewQuery(event.start, event.count)))

    def set_status(self, published: int, subscribers: int, subscriptions: dict[bytes, int]) -> None:
        """The embedded publisher's own counters."""
        self.published = max(self.published, published)
        self.subscribers = subscribers
        self.subscriptions = subscriptions
        self.set_online()
        self._show_stats()

    def _tick(self) -> None:
        self._rates.observe(self.clock(), self.published)
        self._show_stats()

    # --- showing ---------------------------------------------------------------------------

    def _show_stats(self) -> None:
        """The counters, fitted to the pane's width (`FittedLines`): the rate gives way first."""
        label = self.pane_style("label")
        rate = Part(Text.assemble(("rate ", label), format_rate(self._rates.rate)), 1)
        if self.embedded:
            subscribers = "—" if self.subscribers is None else str(self.subscribers)
            lines = [
                [
                    Part(Text.assemble(("published ", label), f"{self.published:,}")),
                    rate,
                    Part(Text.assemble(("subscribers ", label), subscribers)),
                ],
                [
                    Part(
                        Text.assemble(
                            ("subscriptions ", label), format_subscriptions(self.subscriptions)
                        )
                    )
                ],
            ]
        else:
            lines = [
                [Part(Text.assemble(("received ", label), f"{self.published:,}")), rate],
                self._feed_parts(),
            ]
        self.query_one("#publisher-stats", LiveText).set_text(FittedLines(lines))

    def _feed_parts(self) -> list[Part]:
        """Attached: the feed the pane lists (which of several), and why the subscribers
        are not counted; narrow, the feed's name cut and the rest shorter or left out."""
        label = self.pane_style("label")
        parts = []
        name = self.listed_feed
        if name is not None:
            parts.append(
                Part(
                    Text.assemble(("feed ", label), printable(name)),
                    short=Text.assemble(("feed ", label), feed_label(name, SHORT_FEED_CHARS)),
                )
            )
        if position := self.feed_position().removeprefix("feed "):
            others = f"{position}; f: the next; all of them in the subscriber pane"
            parts.append(Part(Text(others, label), short=Text(position, label)))
        note = "subscriber counts are known only for the embedded publisher"
        parts.append(Part(Text(note, label), drop_order=0))
        return parts

    def _format_line(self, item: PublishedItem) -> Text:
        """`#seq kind time path` for an event, `time topic payload` for another message;
        under `NARROW_ROWS` columns without the time."""
        timed = self.log_view.size.width >= NARROW_ROWS
        if isinstance(item, Capture):
            if item.event is None:
                text = Text(clock_time(item.received_ms) + "  " if timed else "")
                style = self.pane_style
                text.append_text(message_text(item, topic=style("accent"), error=style("error")))
                return text
            event = item.event
        else:
            event = item
        seq = "—" if event.seq is None else str(event.seq)
        kind = event.event or event.type
        text = Text.assemble(
            (f"#{seq:<6} ", self.pane_style("label")),
            (f"{printable(kind, limit=8):<8} ", self.pane_style("accent")),
        )
        if timed:
            text.append(clock_time(event.timestamp) + "  ")
        text.append(printable(event.file, limit=MAX_SHOWN_CHARS))
        if event.dest:
            text.append(" → " + printable(event.dest, limit=MAX_SHOWN_CHARS))
        return text

    # --- publishing by hand ----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Attached, publishing by hand cannot work: not offered (the key still says why);
        choosing a feed is offered with several."""
        if action == "next_feed":
            return not self.embedded and len(self.feeds) > 1
        return self.embedded or action != "compose_event"

    def action_next_feed(self) -> None:
        """List the next of the monitor's feeds (after the last, the first again)."""
        if not self.check_action("next_feed", ()):
            return
        self.chosen = self.feeds[self._listed_number() % len(self.feeds)]
        self.published = 0
        self._rates = RateMeter()
        self.log_view.show(Window(0, 0, 0, []))  # the stream starts again: nothing listed yet
        self.log_view.restart()
        self._show_stats()
        self.post_message(self.FeedChosen(self.chosen))

    def on_key(self, event: events.Key) -> None:
        if event.key == "n" and not self.embedded:
            event.stop()
            self.action_compose_event()

    def action_compose_event(self) -> None:
        if self.embedded:
            self.query_one("#publisher-input", Input).focus()
        else:
            self.notify(
                "publishing by hand needs the embedded publisher (run zmqtui without --sub)",
                severity="warning",
                markup=False,
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Publish what was typed and go back to the list; a line that does not parse stays,
        to be corrected, and the notification says what is expected."""
        event.stop()
        try:
            parsed = parse_manual_event(event.value)
        except ValueError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        event.input.clear()
        self.log_view.focus()
        if parsed is not None:
            self.post_message(self.PublishRequested(parsed.file, parsed.kind, parsed.dest))
