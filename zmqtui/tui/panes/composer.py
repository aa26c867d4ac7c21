"""The request composer: ask the filer for a path, once or many times, and see what came back.

The pane never talks to sockets: it posts `SendRequested` and the app answers with
`show_result` (one request), or `show_progress` then `show_summary` (a load).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.validation import Integer
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList, ProgressBar, RichLog, Static
from textual.widgets.option_list import Option

from zmqtui.text import printable
from zmqtui.tui.widgets.composer_paths import PathSuggester
from zmqtui.tui.widgets.composer_render import (
    Palette,
    render_result,
    render_summary,
    result_outcome,
    summary_outcome,
)
from zmqtui.tui.widgets.table import component_style

if TYPE_CHECKING:
    from zmqtui.services.requester import LoadSummary, RequestResult

MAX_COUNT = 100_000
MAX_CONCURRENCY = 100
"""Caps that keep a typo from queueing millions of requests or opening a thousand sockets."""

MAX_HISTORY = 100


@dataclass(slots=True)
class HistoryEntry:
    """A request that was sent, and how it ended (None while it is in flight)."""

    path: str
    count: int
    concurrency: int
    outcome: str | None = None
    ok: bool | None = None


class ComposerPane(Widget):
    """Compose a file request (path, count, concurrency), send it, see the reply; history.

    Args:
        root: The directory the filer serves, for path completion (None: no completion).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send"),
        Binding("r", "resend", "Resend"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "composer-pane--ok",
        "composer-pane--error",
        "composer-pane--label",
        "composer-pane--value",
    }

    DEFAULT_CSS = """
    ComposerPane {
        height: 1fr;
        layout: vertical;
        & > .composer-pane--ok { color: $text-success; }
        & > .composer-pane--error { color: $text-error; }
        & > .composer-pane--label { color: $text-muted; }
        & > .composer-pane--value { text-style: bold; }
        #composer-offline {
            display: none;
            background: $error-muted;
            color: $text;
            padding: 0 1;
            text-style: bold;
        }
        &.-offline #composer-offline { display: block; }
        #composer-form { height: 3; }
        #composer-form Input { border-title-color: $text-muted; }
        #composer-path { width: 1fr; }
        #composer-count { width: 12; }
        #composer-concurrency { width: 17; }
        #composer-send { min-width: 8; width: 8; }
        #composer-status-line { height: 1; padding: 0 1; }
        #composer-status {
            width: 1fr;
            color: $text-muted;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        #composer-status.-error { color: $text-error; }
        #composer-progress { display: none; width: auto; }
        #composer-progress.-active { display: block; }
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

    def compose(self) -> ComposeResult:
        yield Static(id="composer-offline")
        with Horizontal(id="composer-form"):
            suggester = PathSuggester(self.root) if self.root is not None else None
            placeholder = "path (→ completes)" if suggester else "path"
            path = Input(placeholder=placeholder, suggester=suggester, id="composer-path")
            path.border_title = "path"
            yield path
            count = Input(
                "1",
                type="integer",
                validators=[Integer(1, MAX_COUNT, f"count: 1 to {MAX_COUNT:,}")],
                id="composer-count",
            )
            count.border_title = "count"
            yield count
            concurrency = Input(
                "1",
                type="integer",
                validators=[
                    Integer(
                        1,
                        MAX_CONCURRENCY,
                        f"concurrency: 1 to {MAX_CONCURRENCY}",
                    )
                ],
                id="composer-concurrency",
            )
            concurrency.border_title = "concurrency"
            yield concurrency
            yield Button("Send", id="composer-send", variant="primary")
        with Horizontal(id="composer-status-line"):
            yield Static(id="composer-status")
            yield ProgressBar(show_eta=False, id="composer-progress")
        with Horizontal(id="composer-body"):
            response = RichLog(min_width=20, wrap=True, auto_scroll=False, id="composer-response")
            response.border_title = "response"
            yield response
            history = OptionList(id="composer-history")
            history.border_title = "history"
            yield history

    # --- what the app calls --------------------------------------------------------------

    def show_result(self, result: RequestResult) -> None:
        """Show how one request ended: the content highlighted, or the error."""
        self._end_progress()
        self._show(render_result(result, self._palette()))
        outcome, ok = result_outcome(result)
        self._settle(outcome, ok, path=result.path, count=1)

    def show_summary(self, summary: LoadSummary) -> None:
        """Show what a load of `count` requests saw."""
        self._end_progress()
        self._show(render_summary(summary, self._palette()))
        outcome, ok = summary_outcome(summary)
        self._settle(outcome, ok, path=summary.path, count=summary.count)

    def show_progress(self, done: int, total: int) -> None:
        """Show how far a load has come."""
        bar = self.query_one("#composer-progress", ProgressBar)
        bar.add_class("-active")
        bar.update(total=total, progress=done)
        self._status(f"{done:,} of {total:,} answered")

    def set_offline(self, reason: str) -> None:
        """Say why requests cannot be answered now (sending stays possible)."""
        self.query_one("#composer-offline", Static).update(Text(printable(reason)))
        self.add_class("-offline")

    def set_online(self) -> None:
        """Take the offline banner down."""
        self.remove_class("-offline")

    # --- the form ------------------------------------------------------------------------

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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "resend":
            return self._history_list.has_focus and self._highlighted_entry() is not None
        return True

    def _send(self, path: str, count: int, concurrency: int) -> None:
        self.history.insert(0, HistoryEntry(path, count, concurrency))
        del self.history[MAX_HISTORY:]
        self._refresh_history(highlight=0)
        self._end_progress()
        noun = "request" if count == 1 else f"{count:,} requests, {concurrency} at a time,"
        self._status(f"sent {noun} for {printable(path)}")
        self._show([Text(f"waiting for {printable(path)}…", self._palette().label)])
        self.post_message(self.SendRequested(path, count, concurrency))

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

    def _settle(self, outcome: str, ok: bool, *, path: str, count: int) -> None:
        """Record the outcome on the newest request still in flight for `path`."""
        for index, entry in enumerate(self.history):
            if entry.outcome is None and entry.path == path and entry.count == count:
                entry.outcome, entry.ok = outcome, ok
                self._history_list.replace_option_prompt_at_index(index, self._entry_text(entry))
                self._status("")
                return

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
            text.append("in flight…", palette.label)
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
        response = self.query_one("#composer-response", RichLog)
        response.clear()
        for renderable in renderables:
            response.write(renderable)
        response.scroll_home(animate=False)

    def _status(self, message: str, *, error: bool = False) -> None:
        status = self.query_one("#composer-status", Static)
        status.update(Text(message, no_wrap=True, overflow="ellipsis"))
        status.set_class(error, "-error")

    def _end_progress(self) -> None:
        self.query_one("#composer-progress", ProgressBar).remove_class("-active")
