"""The request composer: ask the filer for a path, once or many times, and see what came back.

The pane never talks to sockets: it posts `SendRequested` with a send id of its own, and the
app answers with `show_result` (one request), or `show_progress` then `show_summary` (a load),
each with that id: sends in flight at once, even identical ones, each get their own outcome, and
each load run in flight its own progress.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.validation import Integer
from textual.widgets import Button, Input, Label, OptionList, ProgressBar, RichLog, Static
from textual.widgets.option_list import Option

from zmqtui.text import printable
from zmqtui.tui.backend import GOOD_STATES
from zmqtui.tui.panes.base import OfflineBanner, Pane
from zmqtui.tui.panes.composer.paths import PathSuggester
from zmqtui.tui.panes.composer.render import (
    Palette,
    render_result,
    render_summary,
    result_outcome,
    summary_outcome,
)
from zmqtui.tui.widgets.table import component_style

if TYPE_CHECKING:
    from zmqtui.results import LoadSummary, RequestResult

MAX_COUNT = 100_000
MAX_CONCURRENCY = 100
"""Caps that keep a typo from queueing millions of requests or opening a thousand sockets."""

MAX_HISTORY = 100

ONE_LINE_FORM = 90
"""Columns from which the form is one line (its path field keeps 40 or more)."""
WITH_HISTORY = 60
"""Columns from which the history shows beside a response of 30 or more."""
WITH_SEND = 42
"""Columns the numbers' line needs with the Send button."""


@dataclass(slots=True)
class HistoryEntry:
    """A request that was sent, and how it ended (None while it is in flight)."""

    path: str
    count: int
    concurrency: int
    send_id: int
    """The id its `SendRequested` carried."""
    outcome: str | None = None
    ok: bool | None = None
    done: int | None = None
    """A load run's requests finished so far (None until its first progress)."""


class ResponseLog(RichLog):
    """The response panel: what it shows is wrapped again when its width changes (a RichLog
    keeps lines as wide as the panel was when they were written: maximised, a reply kept the
    narrow pane's wrapping)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(min_width=20, wrap=True, auto_scroll=False, id=id)
        self._renderables: list[RenderableType] = []
        self._width = 0

    def show(self, renderables: Sequence[RenderableType]) -> None:
        """Show `renderables` from the top, in place of what was shown."""
        self._renderables = list(renderables)
        self.clear()
        for renderable in self._renderables:
            self.write(renderable)
        self.scroll_home(animate=False)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            self._width = event.size.width
            if self._renderables:
                self.show(self._renderables)


class ComposerPane(Pane):
    """Compose a file request (path, count, concurrency), send it, see the reply; history.

    Args:
        root: The directory the filer serves, for path completion (None: no completion).
    """

    TITLE = "Requests"
    SOCKET = "req"
    NO_ENDPOINT = "requests have nowhere to go"
    HELP = (
        "Send a file request once, or *count* times with *concurrency* in flight; see "
        "the reply, pid, latency and retries; recall earlier requests from the history (`enter` on "
        "one puts it in the form). `→` in the path field completes a path from the served "
        "directory."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", tooltip="send the request in the form"),
        Binding("x", "cancel", "Cancel", tooltip="cancel the sends in flight (a load run stops)"),
        Binding("enter", "edit", "Edit", tooltip="enter the path field (in a field: send)"),
        Binding("r", "resend", "Resend", tooltip="resend the request selected in the history"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "composer-pane--ok",
        "composer-pane--error",
        "composer-pane--label",
        "composer-pane--value",
    }

    DEFAULT_CSS = """
    ComposerPane {
        & > .composer-pane--ok { color: $text-success; }
        & > .composer-pane--error { color: $text-error; }
        & > .composer-pane--label { color: $text-muted; }
        & > .composer-pane--value { text-style: bold; }
        #composer-form { height: 1; margin: 0 1; }
        #composer-path-row { width: 1fr; height: 1; }
        #composer-numbers { width: auto; height: 1; }
        #composer-form Input {
            border: none;
            height: 1;
            padding: 0 1;
            background: $panel;
            &:focus { background: $panel-lighten-2; }
            &.-invalid { background: $error 40%; }
        }
        .composer-label { width: auto; color: $text-muted; padding: 0 1; }
        #composer-path-row .composer-label { padding: 0 1 0 0; }
        #composer-path { width: 1fr; }
        #composer-count { width: 9; }
        #composer-concurrency { width: 6; }
        #composer-send { height: 1; min-width: 6; width: 6; border: none; margin-left: 1; }
        /* narrower: the numbers go below the path, which keeps the whole width */
        &.-two-line-form {
            #composer-form { height: 2; layout: vertical; }
            #composer-numbers { width: 1fr; }
            #composer-numbers .composer-label:first-of-type { padding: 0 1 0 0; }
        }
        &.-no-history #composer-history { display: none; }
        &.-no-send #composer-send { display: none; }
        #composer-status-line { height: 1; padding: 0 1; }
        #composer-status {
            width: 1fr;
            color: $text-muted;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        #composer-status.-error { color: $text-error; }
        #composer-load, #composer-progress { display: none; width: auto; }
        #composer-progress Bar { width: 12; }
        #composer-load {
            width: 1fr;
            padding-right: 1;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        #composer-status-line.-loading {
            #composer-load, #composer-progress { display: block; }
            #composer-status { display: none; }
        }
        #composer-status-line.-loading.-error {
            #composer-load, #composer-progress { display: none; }
            #composer-status { display: block; }
        }
        #composer-body { height: 1fr; }
        #composer-response, #composer-history {
            height: 1fr;
            background: $surface;
            border: round $panel-lighten-2;
            border-title-color: $text-muted;
            &:focus { border: round $primary; border-title-color: $text; }
        }
        #composer-response {
            width: 1fr;
            overflow-x: hidden;
            overflow-y: auto;
            scrollbar-gutter: stable;
            scrollbar-size-vertical: 1;
        }
        #composer-history { width: 30%; min-width: 24; max-width: 40; }
    }
    """

    @dataclass
    class SendRequested(Message):
        """The user asked to send `count` requests for `path`, `concurrency` at a time."""

        path: str
        count: int
        concurrency: int
        send_id: int | None = None
        """Identifies the send: give it back with its outcome and progress."""

    @dataclass
    class CancelRequested(Message):
        """The user asked to stop the sends in flight, `send_ids`."""

        send_ids: tuple[int, ...]

    def __init__(
        self,
        root: Path | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.root = root
        self.history: list[HistoryEntry] = []
        """Sent requests, newest first (at most `MAX_HISTORY`)."""
        self._in_flight: dict[int, HistoryEntry] = {}
        """Sends without an outcome yet by send id, oldest first (kept past the history's end)."""
        self._send_ids = itertools.count(1)
        self._awaited: int | None = None
        """The send whose "waiting for…" line the response panel shows."""

    def compose(self) -> ComposeResult:
        yield OfflineBanner()
        with Horizontal(id="composer-form"):
            with Horizontal(id="composer-path-row"):
                suggester = PathSuggester(self.root) if self.root is not None else None
                placeholder = "a file under the served root (→ completes)" if suggester else ""
                yield Label("path", classes="composer-label")
                yield Input(placeholder=placeholder, suggester=suggester, id="composer-path")
            with Horizontal(id="composer-numbers"):
                yield Label("count", classes="composer-label")
                yield Input(
                    "1",
                    type="integer",
                    validators=[Integer(1, MAX_COUNT, f"count: 1 to {MAX_COUNT:,}")],
                    id="composer-count",
                )
                yield Label("concurrency", classes="composer-label")
                yield Input(
                    "1",
                    type="integer",
                    validators=[
                        Integer(1, MAX_CONCURRENCY, f"concurrency: 1 to {MAX_CONCURRENCY}")
                    ],
                    id="composer-concurrency",
                )
                yield Button("Send", id="composer-send", variant="primary")
        with Horizontal(id="composer-status-line"):
            yield Static(id="composer-status")
            yield Static(id="composer-load")
            yield ProgressBar(show_eta=False, id="composer-progress")
        with Horizontal(id="composer-body"):
            response = ResponseLog(id="composer-response")
            response.border_title = "response"
            yield response
            history = OptionList(id="composer-history")
            history.border_title = "history"
            yield history

    def on_resize(self, event: events.Resize) -> None:
        """Parts give way as the pane narrows: the form takes two lines, then the history goes
        (recalled when maximised), then the Send button (enter and ctrl+s send)."""
        width = event.size.width
        self.set_class(width < ONE_LINE_FORM, "-two-line-form")
        self.set_class(width < WITH_HISTORY, "-no-history")
        self.set_class(width < WITH_SEND, "-no-send")

    # --- what the app calls --------------------------------------------------------------

    def show_result(self, result: RequestResult, *, send_id: int | None = None) -> None:
        """Show how one request ended (the content highlighted, or the error) and record it on
        the send `send_id` (None: the oldest one in flight for the same path)."""
        self._show(render_result(result, self._palette()))
        entry = self._in_flight_entry(send_id, result.path, 1)
        if entry is not None:
            self._settle(entry, *result_outcome(result))

    def show_summary(self, summary: LoadSummary, *, send_id: int | None = None) -> None:
        """Show what a load of `count` requests saw, and record it on the send `send_id`."""
        self._show(render_summary(summary, self._palette()))
        entry = self._in_flight_entry(send_id, summary.path, summary.count)
        if entry is not None:
            self._settle(entry, *summary_outcome(summary))
        self._show_loads()

    def show_failure(
        self,
        path: str,
        count: int,
        reason: str,
        *,
        send_id: int | None = None,
        cancelled: bool = False,
    ) -> None:
        """A send that will have no outcome (no endpoint, it broke, or it was cancelled):
        settle it as failed, and say so where its reply was awaited."""
        entry = self._in_flight_entry(send_id, path, count)
        outcome = "cancelled" if cancelled else f"failed: {reason}"
        if entry is not None:
            if cancelled and entry.count > 1:
                outcome += f" after {entry.done or 0:,} of {entry.count:,}"
            if entry.send_id == self._awaited:
                self._show([Text.assemble(("✖ ", self._palette().error), printable(outcome))])
            self._settle(entry, outcome, False)
        self._show_loads()
        told = outcome if cancelled else reason
        self._status(f"{printable(path)}: {printable(told)}", error=True)

    def show_progress(self, done: int, total: int, *, send_id: int | None = None) -> None:
        """Show how far the load run `send_id` has come, in its history entry and, when it is
        the newest load in flight, beside the progress bar."""
        entry = self._in_flight_entry(send_id, None, total)
        if entry is None:
            return
        before = self._percent(entry)
        entry.done = done
        if self._percent(entry) != before:
            self._repaint(entry)
        self._show_loads()

    def show_connection(self, state: str, endpoint: str | None, detail: str = "") -> None:
        """Whether requests can be answered now, in the banner (sending stays possible)."""
        if state in GOOD_STATES:
            self.set_online()
        elif state == "off":
            super().show_connection(state, endpoint, detail)
        elif state != "connecting":
            self.set_offline(f"filer {endpoint}: {state}")

    @property
    def main_control(self) -> ResponseLog:
        """Where the pane's keys work: the response; `enter` goes on to the form."""
        return self.query_one("#composer-response", ResponseLog)

    # --- the form ------------------------------------------------------------------------

    def action_edit(self) -> None:
        """Enter the path field, to type a request (`escape` leaves it)."""
        path = self.query_one("#composer-path", Input)
        path.focus()
        path.action_end()

    def fill(self, path: str, count: int = 1, concurrency: int = 1) -> None:
        """Put a request into the form (as recalling it from the history does)."""
        self.query_one("#composer-path", Input).value = path
        self.query_one("#composer-count", Input).value = str(count)
        self.query_one("#composer-concurrency", Input).value = str(concurrency)

    def _read_form(self) -> tuple[str, int, int] | None:
        """The form's values, or None after showing what is wrong with them."""
        path_input = self.query_one("#composer-path", Input)
        problems: list[str] = []
        invalid: list[Input] = []
        path_input.set_class(not path_input.value, "-invalid")
        if not path_input.value:
            problems.append("path: required")
            invalid.append(path_input)
        numbers: list[int] = []
        for input_id in ("#composer-count", "#composer-concurrency"):
            field = self.query_one(input_id, Input)
            validation = field.validate(field.value)
            if validation is not None and not validation.is_valid:
                problems.extend(validation.failure_descriptions)
                invalid.append(field)
            else:
                numbers.append(int(field.value))
        if problems:
            self._status("; ".join(problems), error=True)
            invalid[0].focus()
            return None
        return path_input.value, numbers[0], numbers[1]

    def action_send(self) -> None:
        """Send what the form says."""
        form = self._read_form()
        if form is not None:
            self._send(*form)

    def action_resend(self) -> None:
        """Send the request highlighted in the history again."""
        entry = self._highlighted_entry()
        if entry is not None:
            self.fill(entry.path, entry.count, entry.concurrency)
            self._send(entry.path, entry.count, entry.concurrency)

    def action_cancel(self) -> None:
        """Stop every send in flight (a load run stops sending at once)."""
        if self._in_flight:
            self.post_message(self.CancelRequested(tuple(self._in_flight)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resend":
            return self._history_list.has_focus and self._highlighted_entry() is not None
        if action == "cancel":
            return bool(self._in_flight)
        return True

    def _send(self, path: str, count: int, concurrency: int) -> None:
        send_id = next(self._send_ids)
        entry = HistoryEntry(path, count, concurrency, send_id)
        self._in_flight[send_id] = entry
        self.history.insert(0, entry)
        del self.history[MAX_HISTORY:]
        self._refresh_history(highlight=0)
        noun = "request" if count == 1 else f"{count:,} requests, {concurrency} at a time,"
        self._status(f"sent {noun} for {printable(path)}")
        self._show([Text(f"waiting for {printable(path)}…", self._palette().label)])
        self._awaited = send_id
        self.refresh_bindings()
        self.post_message(self.SendRequested(path, count, concurrency, send_id))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_send()

    @on(Button.Pressed, "#composer-send")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_send()

    # --- history -------------------------------------------------------------------------

    @property
    def _history_list(self) -> OptionList:
        return self.query_one("#composer-history", OptionList)

    def _highlighted_entry(self) -> HistoryEntry | None:
        index = self._history_list.highlighted
        return self.history[index] if index is not None and index < len(self.history) else None

    @on(OptionList.OptionSelected, "#composer-history")
    def _recalled(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        entry = self.history[event.option_index]
        self.fill(entry.path, entry.count, entry.concurrency)
        path = self.query_one("#composer-path", Input)
        path.focus()
        path.action_end()

    # --- sends in flight ------------------------------------------------------------------

    def _in_flight_entry(
        self, send_id: int | None, path: str | None, count: int
    ) -> HistoryEntry | None:
        """The send an outcome or progress is for: `send_id`, or without one (from a backend
        that keeps no ids) the oldest send in flight with the same path and count."""
        if send_id is not None:
            return self._in_flight.get(send_id)
        for entry in self._in_flight.values():
            if entry.count == count and path in (None, entry.path):
                return entry
        return None

    def _settle(self, entry: HistoryEntry, outcome: str, ok: bool) -> None:
        del self._in_flight[entry.send_id]
        if entry.send_id == self._awaited:
            self._awaited = None
        self.refresh_bindings()
        entry.outcome, entry.ok = outcome, ok
        self._repaint(entry)
        self._status("")

    def _repaint(self, entry: HistoryEntry) -> None:
        for index, shown in enumerate(self.history):
            if shown is entry:
                self._history_list.replace_option_prompt_at_index(index, self._entry_text(entry))
                return

    @staticmethod
    def _percent(entry: HistoryEntry) -> int | None:
        return None if entry.done is None else entry.done * 100 // entry.count

    def _show_loads(self) -> None:
        """The newest load run that reported progress beside the bar; none: no bar."""
        loads = [e for e in self._in_flight.values() if e.count > 1 and e.done is not None]
        line = self.query_one("#composer-status-line")
        line.set_class(bool(loads), "-loading")
        if not loads:
            return
        newest = loads[-1]
        done = newest.done or 0
        text = f"{done:,} of {newest.count:,} answered for {printable(newest.path)}"
        if len(loads) > 1:
            text = f"{len(loads)} loads, the newest: {text}"
        self.query_one("#composer-load", Static).update(
            Text(text, no_wrap=True, overflow="ellipsis"), layout=False
        )  # its width is the line's rest: no layout of the screen for each progress report
        self.query_one("#composer-progress", ProgressBar).update(total=newest.count, progress=done)

    def _refresh_history(self, highlight: int | None = None) -> None:
        history = self._history_list
        history.set_options(Option(self._entry_text(entry)) for entry in self.history)
        if highlight is not None and self.history:
            history.highlighted = highlight

    def _entry_text(self, entry: HistoryEntry) -> Text:
        palette = self._palette()
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(printable(entry.path), palette.value)
        if entry.count > 1:
            text.append(f" ×{entry.count:,}/{entry.concurrency}", palette.label)  # noqa: RUF001
        text.append("\n")
        if entry.outcome is None:
            percent = self._percent(entry)
            progress = "" if percent is None else f" {percent}%"
            text.append(f"in flight…{progress}", palette.label)
        else:
            text.append(printable(entry.outcome), palette.ok if entry.ok else palette.error)
        return text

    # --- output --------------------------------------------------------------------------

    def _palette(self) -> Palette:
        def style(name: str) -> Style:
            return component_style(self, f"composer-pane--{name}")

        return Palette(
            ok=style("ok"),
            error=style("error"),
            label=style("label"),
            value=style("value"),
            dark=self.app.current_theme.dark,
        )

    def _show(self, renderables: list) -> None:
        self.query_one("#composer-response", ResponseLog).show(renderables)

    def _status(self, message: str, *, error: bool = False) -> None:
        status = self.query_one("#composer-status", Static)
        status.update(Text(message, no_wrap=True, overflow="ellipsis"))
        status.set_class(error, "-error")
        # An error shows even while a load run's line holds the place.
        self.query_one("#composer-status-line").set_class(error, "-error")
