"""The subscriber pane: what a SUB socket receives, with live subscriptions and a filter.

The messages are held on the ingest side (`zmqtui.services.ingest`), which also filters,
counts and exports them: the pane shows the counters and the rows on screen it asks for
(`ViewWanted`, answered by a `FeedView` at most once per frame). The book's change events show
their own columns; any other message its topic and payload, decoded on the ingest side (`d`
chooses the selected message's decoder). Payloads are always shown as plain, escaped text,
never as markup.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input

from zmqtui.captures import (
    NOTHING_CAPTURED,
    Capture,
    ExportResult,
    FeedStatus,
    FeedView,
    FrameDetail,
    ViewQuery,
)
from zmqtui.config import captures_dir
from zmqtui.decoders import AUTO, next_choice
from zmqtui.feedfilter import NO_FILTER, FeedFilter, FilterError, parse_filter
from zmqtui.format import clock_time, format_bytes, format_rate, plural
from zmqtui.text import printable, printable_json
from zmqtui.tui.messages import ClearWanted, ExportWanted, FilterChanged, ViewWanted
from zmqtui.tui.panes.base import OfflineBanner, Pane
from zmqtui.tui.widgets.compare_view import MARK, comparison_text, same_message
from zmqtui.tui.widgets.detail_view import DetailView
from zmqtui.tui.widgets.feed import (
    MAX_SHOWN_CHARS,
    NARROW_ROWS,
    RateMeter,
    feed_label,
    message_text,
    printable_frame,
)
from zmqtui.tui.widgets.fitted_line import FittedLines, Part
from zmqtui.tui.widgets.frame_clock import frame_clock
from zmqtui.tui.widgets.live_text import LiveText
from zmqtui.tui.widgets.ring_log import RingLog, Window

DETAIL_INTERVAL_S = 0.25
"""While following, the newest message's detail is redrawn at most this often."""

SLOW_LAG_MS = 1000
"""Lag above which a line is flagged: the feed is falling behind (zguide's Suicidal Snail)."""

MAX_FEED_CHARS = 12
"""The widest a row's feed column grows (longer names are cut)."""

FEED_STATE_STYLES = {
    "connected": "ok",
    "recorded": "ok",
    "connecting": "warning",
    "retrying": "warning",
}
"""How a feed's state is coloured; any other state (disconnected, failed) as an error."""


def parse_prefixes(line: str) -> tuple[str, ...]:
    """Comma-separated prefixes as typed; nothing typed means everything (`""`)."""
    prefixes = tuple(dict.fromkeys(p.strip() for p in line.split(",") if p.strip()))
    return prefixes or ("",)


def describe_prefixes(prefixes: tuple[str, ...]) -> str:
    if prefixes == ("",):
        return "everything"
    return ", ".join(f'"{printable(p, limit=24)}"' for p in prefixes)


def json_view(frame: bytes) -> Text:
    """A change event's JSON, indented and highlighted. What `printable` escapes (controls,
    bidirectional overrides, a file name's undecodable bytes) is shown as a JSON escape."""
    text = JSONHighlighter()(printable_json(json.loads(frame), indent=2))
    text.no_wrap = True
    return text


class CaptureLog(RingLog[Capture]):
    """The pane's list, with `p` as a priority binding: under a flood it is the key that
    matters most, and a priority binding runs where the key first reaches the app, not after
    it has bubbled up through every widget back to it (each hop may wait for a frame)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "toggle_follow", "Pause/follow", priority=True),
        Binding(
            "d",
            "cycle_decoder",
            "Decoder",
            tooltip="read the selected message's frames with the next decoder: auto, json, "
            "msgpack, protobuf, text, hex, raw",
        ),
    ]

    @dataclass
    class DecoderCycled(Message):
        """The user asked for the next decoder of the message under the cursor."""

        cursor: int | None

    def action_cycle_decoder(self) -> None:
        self.post_message(self.DecoderCycled(self.cursor))

    def action_toggle_follow(self) -> None:
        if self.following:
            self.pause()
        else:
            self.follow()


class SubscriberPane(Pane):
    """Messages a SUB socket receives from the chosen endpoint."""

    TITLE = "Subscriber"
    SOCKET = "sub"
    HELP = (
        "What a SUB socket receives: time, lag (receive time minus the event's "
        "timestamp), seq, kind, path. ⚠ marks a gap in seq, a new or restarted publisher or a "
        "feed falling behind. The selected message is shown whole below the list (under 60 "
        "columns the rows leave lag and seq to it).\n\n"
        "A subscription prefix that starts with `{` filters on the raw message; any other prefix "
        "on the beginning of the file path. Exports go to `~/.local/share/zmqtui/captures` "
        "(`$XDG_DATA_HOME`, or the `export_dir` setting), never into the watched directory, as "
        "recordings (`zmqtui replay`, `zmqtui diff`); the notification names the file."
    )

    STREAM = "sub"
    """The ingest side's name for what this pane lists."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "p",
            "toggle_follow",
            "Pause/follow",
            tooltip="pause (the view stays put, a counter shows what arrives) or follow again",
        ),
        Binding(
            "slash",
            "edit_filter",
            "Filter",
            key_display="/",
            tooltip="filter what is shown: plain text (any case) or `/regex/`, on path, kind "
            "and notes, or another message's topic and decoded payload; or a field query over "
            "JSON and msgpack payloads: `level=warn bid>100 user.id=42`, `@feed=NAME`, "
            "`@topic~^md\\.`",
        ),
        Binding(
            "s",
            "edit_prefixes",
            "Subscribe",
            tooltip="edit the subscriptions: prefixes separated by commas, empty for everything",
        ),
        Binding(
            "e",
            "export",
            "Export",
            tooltip="export what is held (up to 10,000 messages) as a recording, "
            "`zmqtui-capture-<time>.jsonl`",
        ),
        Binding("c", "clear", "Clear", tooltip="clear the list (counts are totals and stay)"),
        Binding(
            "x",
            "mark",
            "Mark",
            tooltip="mark the selected message (x again unmarks): selecting another shows what "
            "differs between the two, field by field",
        ),
    ]

    DEFAULT_CSS = """
    SubscriberPane {
        #subscriber-inputs { height: 1; margin: 0 1; }
        #subscriber-prefixes { width: 1fr; margin-right: 1; }
        #subscriber-filter { width: 1fr; }
        #subscriber-filter.-invalid { color: $text-error; text-style: bold; }
        #subscriber-stats { height: 2; padding: 0 1; }
        &.-feeds #subscriber-stats { height: 3; }
        #subscriber-log { height: 1fr; width: 100%; min-height: 3; }  /* 100%: see `Pane` */
        #subscriber-detail { height: 8; border-top: solid $panel-lighten-2; padding: 0 1; }
        &.-comparing #subscriber-detail {
            height: 1fr; min-height: 8; max-height: 20; width: 100%;  /* 100%: see `Pane` */
        }
        &.-offline #subscriber-inputs, &.-offline #subscriber-stats { display: none; }
        & > .pane--paused { color: $text-warning; text-style: bold; }
        & > .pane--feed { color: $text-secondary; }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"pane--paused", "pane--feed"}

    @dataclass
    class SubscriptionsChanged(Message):
        """The user changed the prefixes the SUB socket subscribes to."""

        prefixes: tuple[str, ...]

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        export_dir: Path | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.export_dir = export_dir or captures_dir()
        self.view = FeedView(self.STREAM)
        """The latest counters and rows the ingest side sent."""
        self.prefixes: tuple[str, ...] = ("",)
        self.filter: FeedFilter = NO_FILTER
        self.filter_error: str | None = None
        """Why the filter being typed cannot be read (the list keeps the previous one)."""
        self._rates = RateMeter()
        self._detail_late = False
        """The detail waits for a frame to show the newest message."""
        self._detail_index: int | None = -1
        """The row (absolute index) the detail shows; None: nothing selected."""
        self._detail_key: tuple[object, ...] | None = None
        """What the detail shows: row, decoder, and whether its frames' detail had come."""
        self._decoders: dict[int, str] = {}
        """The decoder the user chose (`d`) for some rows, by absolute index."""
        self._window: tuple[int | None, int, int | None] = (None, 0, None)
        """The rows the list last asked for: start, count, selected."""
        self._detail_shown_at = 0.0
        self._feed_width = 0
        """Columns of the rows' feed names: 0 while the stream lists one feed."""
        self.marked: Capture | None = None
        """The message marked (`x`) to compare the selected one with."""

    def compose(self) -> ComposeResult:
        yield OfflineBanner()
        with Horizontal(id="subscriber-inputs"):
            yield Input(
                placeholder="subscribe: prefixes, comma-separated (empty: everything) ⏎",
                id="subscriber-prefixes",
                compact=True,
            )
            yield Input(
                placeholder="filter: text, /regex/ or field=value",
                id="subscriber-filter",
                compact=True,
            )
        yield LiveText(id="subscriber-stats")
        yield CaptureLog(self._format_line, fetched=True, id="subscriber-log")
        yield DetailView(id="subscriber-detail")

    def on_mount(self) -> None:
        self.watch(self.log_view, "following", lambda _: self._show_stats(now=True), init=False)
        self.watch(self.log_view, "missed", lambda _: self._show_stats(), init=False)
        self.set_interval(1.0, self._tick, name="subscriber rate")
        self._show_stats()
        self._show_detail(None, None)

    @property
    def log_view(self) -> CaptureLog:
        return self.query_one("#subscriber-log", CaptureLog)

    @property
    def main_control(self) -> CaptureLog:
        """The list of messages."""
        return self.log_view

    # --- feeding ---------------------------------------------------------------------------

    @property
    def received(self) -> int:
        return self.view.received

    @property
    def shown(self) -> int:
        """Messages received that pass the filter: exact, unless `view.shown_at_least` says
        messages no longer held could not be judged after a filter change (shown as ≥)."""
        return self.view.shown

    @property
    def not_events(self) -> int:
        return self.view.not_events

    def show_view(self, view: FeedView) -> None:
        """What the ingest side holds now: counters, and the rows the log asked for."""
        self.view = view
        several = len(view.feeds) > 1
        self.set_class(several, "-feeds")
        self._feed_width = (
            min(MAX_FEED_CHARS, max(len(printable(f.name)) for f in view.feeds)) if several else 0
        )
        self.log_view.show(Window(view.first, view.appended, view.rows_start, view.rows))
        self._rates.observe(self.clock(), view.received)
        self._show_stats()
        self._refresh_detail()

    def on_ring_log_window_moved(self, event: RingLog.WindowMoved) -> None:
        event.stop()
        self._window = (event.start, event.count, event.selected)
        self._ask_view()

    def _ask_view(self) -> None:
        """Ask for the rows the list needs, with the decoders chosen for them."""
        start, count, selected = self._window
        first = self.view.appended - count if start is None else start
        chosen = tuple(
            (index, name)
            for index, name in sorted(self._decoders.items())
            if first <= index < first + count or index == selected
        )
        self.post_message(ViewWanted(self.STREAM, ViewQuery(start, count, selected, chosen)))

    def _tick(self) -> None:
        self._rates.observe(self.clock(), self.view.received)
        self._show_stats()

    # --- showing ---------------------------------------------------------------------------

    def _show_stats(self, *, now: bool = False) -> None:
        """The counters on the next frame; `now` for what the user just did. Too narrow, the
        least important give way whole (`FittedLines`): first the other messages' count, then
        the lag and rate, then the subscriptions; the counts, warnings and pause stay."""
        label = self.pane_style("label")
        warning = self.pane_style("warning")
        log = self.log_view
        view = self.view
        counters = [
            Part(Text.assemble(("received ", label), f"{view.received:,}")),
            Part(Text.assemble(("rate ", label), format_rate(self._rates.rate)), drop_order=2),
            Part(
                Text.assemble(
                    ("shown ", label), f"{'≥' if view.shown_at_least else ''}{view.shown:,}"
                )
            ),
        ]
        if view.alerts:
            counters.append(Part(Text(f"⚠ {plural(view.alerts, 'alert')}", warning)))
        if view.not_events:
            counters.append(Part(Text(plural(view.not_events, "other message"), label), 1))
        if view.dropped:
            counters.append(Part(Text(f"⚠ {view.dropped:,} never arrived", warning)))
        if view.behind_s:
            counters.append(Part(Text(f"⚠ behind for {view.behind_s:.0f} s", warning)))
        if len(view.feeds) == 1 and (given_up := view.feeds[0].given_up):  # several: per feed
            over = format_bytes(view.feeds[0].max_message_bytes)
            counters.append(Part(Text(f"⚠ {given_up:,} over {over}", warning)))
        state: list[Part] = []
        if self.filter_error is not None:  # first on its line: seen at any width
            state.append(Part(Text(f"✗ {printable(self.filter_error)}", self.pane_style("error"))))
        state.append(
            Part(Text.assemble(("subscribed ", label), describe_prefixes(self.prefixes)), 3)
        )
        if view.last_lag_ms is not None:
            lag = f"{view.last_lag_ms} ms (max {view.max_lag_ms} ms)"
            state.append(Part(Text.assemble(("lag ", label), lag), drop_order=2))
        if log.following:
            state.append(Part(Text("following", label)))
        else:
            paused = f"⏸ paused, {log.missed:,} new (p follows)"
            state.append(Part(Text(paused, self.pane_style("paused"))))
        lines = [counters, state]
        if len(view.feeds) > 1:
            lines.append(self._feed_parts(view.feeds))
        self.query_one("#subscriber-stats", LiveText).set_text(FittedLines(lines), now=now)

    def _feed_parts(self, feeds: tuple[FeedStatus, ...]) -> list[Part]:
        """Each feed's state and count, and the messages too large it refused; narrow, its
        name shorter and its state only the colour of its dot."""
        parts = [Part(Text("feeds", self.pane_style("label")), drop_order=0)]
        for feed in feeds:
            style = self.pane_style(FEED_STATE_STYLES.get(feed.state, "error"))
            count = Text(f" {feed.received:,}")
            if feed.given_up:
                over = format_bytes(feed.max_message_bytes)
                count.append(f" ⚠ {feed.given_up:,} over {over}", self.pane_style("warning"))
            dot, name = ("● ", style), self.pane_style("feed")
            whole = Text.assemble(
                dot, (feed_label(feed.name, MAX_FEED_CHARS * 2), name), (f" {feed.state}", style)
            )
            short = Text.assemble(dot, (feed_label(feed.name, MAX_FEED_CHARS), name))
            parts.append(Part(whole + count, short=short + count))
        return parts

    def _format_line(self, capture: Capture) -> Text:
        """Receive time, feed (with several), lag and `#seq`, kind and path of an event, or
        topic and payload of another message; under `NARROW_ROWS` columns without lag and
        `#seq` (the detail shows them)."""
        wide = self.log_view.size.width >= NARROW_ROWS
        text = Text(clock_time(capture.received_ms))
        if self.marked is not None and same_message(capture, self.marked):
            text.append(f"{MARK} ", self.pane_style("accent"))
        else:
            text.append("  ")
        if width := self._feed_width:
            text.append(f"{feed_label(capture.feed, width):<{width}} ", self.pane_style("feed"))
        event = capture.event
        if event is None:
            style = self.pane_style
            if (lag := capture.lag_ms) is not None and wide:  # another message with a send time
                text.append(f"{lag:>5}ms ", style("warning") if lag > SLOW_LAG_MS else "")
            text.append_text(message_text(capture, topic=style("accent"), error=style("error")))
            for note in capture.notes:
                text.append(f"  ⚠ {note}", style("warning"))
            return text
        if wide:
            lag = capture.lag_ms or 0
            text.append(f"{lag:>5}ms ", self.pane_style("warning") if lag > SLOW_LAG_MS else "")
            seq = "—" if event.seq is None else event.seq
            text.append(f"#{seq:<6} ", self.pane_style("label"))
        text.append(
            f"{printable(event.event or event.type, limit=8):<8} ", self.pane_style("accent")
        )
        text.append(printable(event.file, limit=MAX_SHOWN_CHARS))
        if event.dest:
            text.append(" → " + printable(event.dest, limit=MAX_SHOWN_CHARS))
        for note in capture.notes:
            text.append(f"  ⚠ {note}", self.pane_style("warning"))
        return text

    def _show_detail(self, capture: Capture | None, index: int | None) -> None:
        marked = self.marked
        if capture is None or marked is None:
            shown = self._detail(capture)
        elif same_message(capture, marked):
            note = f"{MARK} marked: select another message to compare it with (x unmarks)"
            shown = Group(Text(note, self.pane_style("accent")), self._detail(capture))
        else:
            shown = comparison_text(marked, capture, self.pane_style)
        self.query_one("#subscriber-detail", DetailView).update(shown)
        self._detail_index = index
        self._detail_key = self._key(capture, index)
        self._detail_shown_at = time.monotonic()

    def _selected(self) -> Capture | None:
        """The message under the cursor, with its frames' detail once the ingest side sent it."""
        log = self.log_view
        if self.view.selected is not None and self.view.selected_index == log.cursor:
            return self.view.selected
        return log.selected

    def _detail(self, capture: Capture | None) -> RenderableType:
        label = self.pane_style("label")
        if capture is None:
            return Text("the selected message appears here, whole", style=label)
        header = Text.assemble(("received ", label), clock_time(capture.received_ms))
        if self._feed_width:
            header.append_text(Text.assemble(("  feed ", label), printable(capture.feed)))
        if capture.event is not None:
            header.append_text(Text.assemble(("  lag ", label), f"{capture.lag_ms} ms"))
            for note in capture.notes:
                header.append(f"\n⚠ {note}", self.pane_style("warning"))
            return Group(header, json_view(capture.frames[0]))
        if capture.other:
            return self._message_detail(header, capture)
        header.append(f"\n✗ {capture.error}", self.pane_style("error"))
        frames = [
            Text.assemble(
                (f"frame {index} ({len(frame)} bytes) ", label), printable_frame(frame, 4000)
            )
            for index, frame in enumerate(capture.frames)
        ]
        return Group(header, *frames)

    def _message_detail(self, header: Text, capture: Capture) -> RenderableType:
        """Any other message: its topic, then each payload frame by the decoder that read it."""
        label = self.pane_style("label")
        if capture.topic is not None:
            header.append_text(Text.assemble(("  topic ", label), (capture.topic, "")))
        if capture.lag_ms is not None:
            header.append_text(Text.assemble(("  lag ", label), f"{capture.lag_ms} ms"))
        if capture.seq is not None:
            header.append_text(Text.assemble(("  seq ", label), str(capture.seq)))
        chosen = "auto" if capture.decoder == AUTO else capture.decoder
        header.append_text(Text.assemble(("  decoder ", label), chosen, (" (d: next)", label)))
        for note in capture.notes:
            header.append(f"\n⚠ {note}", self.pane_style("warning"))
        if not capture.parts:  # the frames' detail is on its way
            return Group(header, Text(capture.summary))
        return Group(header, *(self._frame_detail(i, part) for i, part in enumerate(capture.parts)))

    def _frame_detail(self, index: int, part: FrameDetail) -> Text:
        title = f"frame {index} · {part.decoder} ({plural(part.size, 'byte')})"
        text = Text(title, style=self.pane_style("error" if part.failed else "label"))
        text.append("\n" + "\n".join(part.lines), self.pane_style("error") if part.failed else "")
        return text

    def on_capture_log_decoder_cycled(self, event: CaptureLog.DecoderCycled) -> None:
        """Read the selected message with the next decoder; a change event stays one."""
        event.stop()
        cursor = event.cursor
        selected = self._selected()
        if cursor is None or (selected is not None and not selected.other):
            self.notify(
                "d reads messages that are not change events with another decoder",
                severity="warning",
                markup=False,
            )
            return
        self.log_view.pause()  # stay on the message whose decoder changes
        choice = next_choice(self._decoders.get(cursor, AUTO))
        if choice == AUTO:
            self._decoders.pop(cursor, None)
        else:
            self._decoders[cursor] = choice
        self._window = (*self._window[:2], cursor)
        self._ask_view()

    def on_ring_log_cursor_moved(self, event: RingLog.CursorMoved) -> None:
        event.stop()
        self._refresh_detail()

    def _refresh_detail(self) -> None:
        """A selection by hand shows at once (once its row has come); while following, the
        newest at most every DETAIL_INTERVAL_S, on a frame (the detail is too costly to redraw
        on every frame)."""
        log = self.log_view
        if log.cursor is not None and log.selected is None:
            return
        if self._key(self._selected(), log.cursor) == self._detail_key:
            return
        if not log.following:
            self._detail_late = False
            self._show_detail(self._selected(), log.cursor)
        elif not self._detail_late:
            self._detail_late = True
            frame_clock(self.app).request(self._detail_frame)

    def _detail_frame(self) -> None:
        if not self._detail_late or not self.is_attached:
            return  # shown by hand meanwhile, or the pane is gone
        if time.monotonic() - self._detail_shown_at < DETAIL_INTERVAL_S:
            frame_clock(self.app).request(self._detail_frame)
            return
        self._detail_late = False
        log = self.log_view
        if log.cursor is None or log.selected is not None:
            self._show_detail(self._selected(), log.cursor)

    def _key(self, capture: Capture | None, index: int | None) -> tuple[object, ...]:
        """What the detail shows: the message, and the one marked to compare it with."""
        marked = None if self.marked is None else (self.marked.received_ns, self.marked.frames)
        return (*_detail_key(capture, index), marked)

    def action_mark(self) -> None:
        """Mark the selected message to compare others with; on the marked one, unmark it."""
        selected = self._selected()
        if selected is None:
            self.notify("select a message to mark first", severity="warning", markup=False)
            return
        marked = self.marked
        self.marked = None if marked is not None and same_message(marked, selected) else selected
        self.set_class(self.marked is not None, "-comparing")  # a taller detail
        self.log_view.refresh()  # the row's mark
        self._detail_late = False
        self._show_detail(selected, self.log_view.cursor)

    @property
    def detail_up_to_date(self) -> bool:
        """True when the detail shows the message under the cursor."""
        return self._detail_index == self.log_view.cursor

    # --- subscriptions, filter, follow, export ---------------------------------------------

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "subscriber-prefixes":
            prefixes = parse_prefixes(event.value)
            if prefixes != self.prefixes:
                self.prefixes = prefixes
                self.post_message(self.SubscriptionsChanged(prefixes))
                self._show_stats(now=True)
        self.log_view.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "subscriber-filter":
            return
        event.stop()
        try:
            self.filter = parse_filter(event.value)
        except FilterError as exc:
            self.filter_error = str(exc)
            event.input.add_class("-invalid")
            event.input.tooltip = Text(self.filter_error)
            self._show_stats(now=True)
            return
        self.filter_error = None
        event.input.remove_class("-invalid")
        event.input.tooltip = None
        self._decoders.clear()  # the list is numbered anew
        self.post_message(FilterChanged(self.STREAM, event.value))
        self.log_view.restart()
        self._show_stats(now=True)

    def action_toggle_follow(self) -> None:
        self.log_view.action_toggle_follow()

    def action_edit_filter(self) -> None:
        self.query_one("#subscriber-filter", Input).focus()

    def show_only(self, expression: str) -> None:
        """List only what `expression` selects, written in the filter field as if typed."""
        self.query_one("#subscriber-filter", Input).value = expression

    def action_edit_prefixes(self) -> None:
        self.query_one("#subscriber-prefixes", Input).focus()

    def action_clear(self) -> None:
        """Forget what was captured; `received` and the alerts stay (totals since start),
        `shown` counts what the list shows, so it starts again from 0."""
        self._decoders.clear()
        self.post_message(ClearWanted(self.STREAM))
        self.log_view.restart()

    def action_export(self) -> None:
        """Write what is held as a recording, `zmqtui-capture-<time>.jsonl`, in the export
        directory."""
        self.post_message(ExportWanted(self.STREAM, self.export_dir, self.clock()))

    def export_finished(self, result: ExportResult) -> None:
        if result.path is None:
            warning = result.error == NOTHING_CAPTURED
            self.notify(str(result.error), severity="warning" if warning else "error", markup=False)
            return
        written, received = result.written, result.received
        held = "" if written == received else f" (the newest of {received:,})"
        self.notify(f"exported {plural(written, 'message')}{held} to {result.path}", markup=False)


def _detail_key(capture: Capture | None, index: int | None) -> tuple[object, ...]:
    """What a detail shows: the row, its decoder, whether its frames' detail had come."""
    if capture is None:
        return (index,)
    return (index, capture.decoder, bool(capture.parts))
