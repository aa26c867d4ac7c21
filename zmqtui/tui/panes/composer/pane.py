"""The request composer: send any message (frames typed as JSON, text, hex, base64 or a file's
bytes) over REQ or DEALER, or the book's file request, once or many times, and see the reply.

The pane holds the request it shows as a `RequestSpec` (`current_request`, `load_request`).
It never talks to sockets: it posts `MessageSendRequested` (any message) or `SendRequested`
(the book's file request) with a send id of its own, and the app answers with `show_result` /
`show_send_result` (one request), or `show_progress` then `show_summary` /
`show_send_summary` (a load), each with that id: sends in flight at once, even identical ones,
each get their own outcome, and each load run in flight its own progress.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.validation import Integer
from textual.widget import Widget
from textual.widgets import Button, Input, Label, ProgressBar, RichLog, Static

from zmqtui.decoders import AUTO, next_choice
from zmqtui.request_spec import SOCKET_KINDS, RequestSpec, SocketKind
from zmqtui.text import printable
from zmqtui.tui.backend import GOOD_STATES
from zmqtui.tui.panes.base import OfflineBanner, Pane
from zmqtui.tui.panes.composer.frame_list import FRAME_KINDS, FrameInput, FrameList, frame_kind
from zmqtui.tui.panes.composer.frame_list import retype as retype_frame
from zmqtui.tui.panes.composer.library import RequestLibrary
from zmqtui.tui.panes.composer.paths import PathSuggester
from zmqtui.tui.panes.composer.render import (
    Palette,
    render_result,
    render_send_result,
    render_send_summary,
    render_summary,
)
from zmqtui.tui.widgets.table import component_style

if TYPE_CHECKING:
    from zmqtui.results import LoadSummary, RequestResult, SendResult, SendSummary

MAX_COUNT = 100_000
MAX_CONCURRENCY = 100
"""Caps that keep a typo from queueing millions of requests or opening a thousand sockets."""

ONE_LINE_FORM = 90
"""Columns from which the form is one line (its path or endpoint field keeps 40 or more)."""
WITH_SIDE = 60
"""Columns from which the side (saved requests and the history) shows beside a response of 30
or more."""
WITH_SEND = 42
"""Columns the numbers' line needs with the Send button."""
TALL = 16
SHORT = 12
"""Lines from which up to 8 frames show at once (3 below `TALL`, 1 below `SHORT`, so the
reply keeps some room; the rest scroll)."""

_LIBRARY_ACTIONS = frozenset(
    {"save_request", "search_requests", "next_environment", "reload_collection"}
)
"""Keys of the saved requests (`library`), offered once it is placed."""

Template = Literal["message", "file"]
"""What the form shows: any message's frames, or the book's file request (a path)."""


@dataclass(slots=True)
class PendingSend:
    """A send waiting for its outcome: what `x` cancels and the progress bar follows."""

    label: str
    """The file request's path, or the words that name a message (`message_label`)."""
    count: int
    send_id: int
    """The id its `SendRequested` or `MessageSendRequested` carried."""
    done: int | None = None
    """A load run's requests finished so far (None until its first progress)."""


def message_label(spec: RequestSpec) -> str:
    """A message in a few words: its name, else its first frame and how many follow."""
    if spec.name:
        return spec.name
    first = spec.frames[0] if spec.frames else ""
    more = len(spec.frames) - 1
    return first + (f" +{more}" if more > 0 else "")


def file_request(path: str) -> str:
    """The book's file request for `path`, in the frame syntax."""
    return "json:" + json.dumps({"path": path}, ensure_ascii=False)


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
    """Compose a message (endpoint, REQ or DEALER, frames) or the book's file request (a path),
    send it once or `count` times, see the reply decoded.

    Args:
        root: The directory the filer serves, for path completion (None: no completion).
        endpoint: Where messages go unless the user types another endpoint (the request
            endpoint of the embedded or attached stack; None: none until typed).
    """

    TITLE = "Requests"
    SOCKET = "req"
    NO_ENDPOINT = "requests have nowhere to go"
    HELP = (
        "Send any message: one frame a line, each written `json:{...}` (checked as you type, "
        "the wrong character marked), `text:...`, `hex:00 ff`, `b64:...` or `@file`; to the "
        "endpoint shown, over REQ (one at a time, retried) or DEALER (many in flight, replies "
        "matched); once, or *count* times with *concurrency* in flight. Each frame of the reply "
        "is shown decoded (JSON, msgpack, protobuf, text, hex). `ctrl+f` switches to the book's "
        "file request, where `→` in the path field completes a path from the served directory. "
        "On the left, the saved requests of the collection (`--collection`, one TOML file each, "
        "`${variables}` filled from its environment as a message goes) and the history: sends "
        "in flight, then their outcomes, kept across runs. `enter` loads one into the form, `r` "
        "resends a history entry, `/` searches both, `w` saves the form's request, `e` picks "
        "the next environment, `f5` reloads."
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "send", "Send", tooltip="send the request in the form"),
        Binding("x", "cancel", "Cancel", tooltip="cancel the sends in flight (a load run stops)"),
        Binding("enter", "edit", "Edit", tooltip="enter the form (in a field: send)"),
        Binding(
            "d",
            "cycle_decoder",
            "Decoder",
            tooltip="read the reply's frames with the next decoder (auto, json, msgpack, "
            "protobuf, text, hex, raw)",
        ),
        Binding("ctrl+n", "add_frame", "Add frame", tooltip="a new frame after the focused one"),
        Binding(
            "ctrl+y", "drop_frame", "Drop frame", show=False, tooltip="remove the focused frame"
        ),
        Binding("ctrl+up", "move_frame(-1)", "Frame up", show=False, tooltip="move the frame up"),
        Binding(
            "ctrl+down",
            "move_frame(1)",
            "Frame down",
            show=False,
            tooltip="move the frame down",
        ),
        Binding(
            "ctrl+t",
            "retype_frame",
            "Frame type",
            show=False,
            tooltip="write the focused frame as json, text, hex, b64 or @file, in turn",
        ),
        Binding("ctrl+o", "toggle_socket", "REQ/DEALER", show=False, tooltip="REQ or DEALER"),
        Binding(
            "ctrl+f",
            "toggle_template",
            "File request",
            tooltip="the book's file request (a path, completed) or back to any message",
        ),
        Binding("w", "save_request", "Save", tooltip="save the request to the collection"),
        Binding("slash", "search_requests", "Search", tooltip="search saved and sent requests"),
        Binding("e", "next_environment", "Env", tooltip="the collection's next environment"),
        Binding(
            "f5", "reload_collection", "Reload", show=False, tooltip="read the collection again"
        ),
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
        #composer-path-row, #composer-target { width: 1fr; height: 1; }
        #composer-numbers { width: auto; height: 1; }
        #composer-form Input, #composer-frames Input {
            border: none;
            height: 1;
            padding: 0 1;
            background: $panel;
            &:focus { background: $panel-lighten-2; }
            &.-invalid { background: $error 40%; }
        }
        .composer-label { width: auto; color: $text-muted; padding: 0 1; }
        #composer-path-row .composer-label { padding: 0 1 0 0; }
        #composer-path, #composer-endpoint { width: 1fr; }
        #composer-count { width: 9; }
        #composer-concurrency { width: 6; }
        #composer-send, #composer-socket { height: 1; border: none; min-width: 6; }
        #composer-send { width: 6; margin-left: 1; }
        #composer-socket { width: 8; margin-right: 1; background: $panel-lighten-1; }
        #composer-frames { height: auto; max-height: 8; margin: 0 1; }
        &.-short #composer-frames { max-height: 3; }
        &.-tiny #composer-frames { max-height: 1; }
        .composer-frame-row { height: 1; }
        .composer-frame-kind { width: 8; color: $text-muted; }
        .composer-frame { width: 1fr; }
        #composer-frame-error {
            display: none;
            height: 1;
            margin: 0 1;
            color: $text-error;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
        #composer-frame-error.-shown { display: block; }
        /* the book's file request: a path instead of the endpoint and frames */
        #composer-path-row { display: none; }
        &.-file {
            #composer-path-row { display: block; }
            #composer-target, #composer-frames, #composer-frame-error { display: none; }
        }
        /* narrower: the numbers go below the path, which keeps the whole width */
        &.-two-line-form {
            #composer-form { height: 2; layout: vertical; }
            #composer-numbers { width: 1fr; }
            #composer-numbers .composer-label:first-of-type { padding: 0 1 0 0; }
        }
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
        #composer-side { display: none; width: 30%; min-width: 20; max-width: 36; }
        &.-with-side #composer-side { display: block; }
        &.-with-side.-no-side #composer-side { display: none; }
        #composer-response {
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
    }
    """

    @dataclass
    class SendRequested(Message):
        """The user asked to send `count` file requests for `path`, `concurrency` at a time."""

        path: str
        count: int
        concurrency: int
        send_id: int | None = None
        """Identifies the send: give it back with its outcome and progress."""

    @dataclass
    class MessageSendRequested(Message):
        """The user asked to send the message `spec` `count` times, `concurrency` at a time."""

        spec: RequestSpec
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
        endpoint: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.root = root
        self.default_endpoint = endpoint or ""
        self.template: Template = "message"
        self.socket: SocketKind = "REQ"
        self._request_name = ""
        self._timeout_ms: int | None = None
        """What a loaded request carried that the form does not show, kept for its resend."""
        self._in_flight: dict[int, PendingSend] = {}
        """Sends without an outcome yet by send id, oldest first."""
        self._send_ids = itertools.count(1)
        self._awaited: int | None = None
        """The send whose "waiting for…" line the response panel shows."""
        self._reply: SendResult | None = None
        """The message reply the response panel shows (None: it shows something else)."""
        self.reply_decoder = AUTO
        """How the reply shown is read (`d` cycles); a new reply is read with `AUTO` again."""

    def compose(self) -> ComposeResult:
        yield OfflineBanner()
        with Horizontal(id="composer-form"):
            with Horizontal(id="composer-target"):
                yield Button(self.socket, id="composer-socket")
                yield Input(
                    printable(self.default_endpoint), placeholder="endpoint", id="composer-endpoint"
                )
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
        yield FrameList(id="composer-frames")
        yield Static(id="composer-frame-error")
        with Horizontal(id="composer-status-line"):
            yield Static(id="composer-status")
            yield Static(id="composer-load")
            yield ProgressBar(show_eta=False, id="composer-progress")
        with Horizontal(id="composer-body"):
            yield Vertical(id="composer-side")
            response = ResponseLog(id="composer-response")
            response.border_title = "response"
            yield response

    def on_mount(self) -> None:
        self._show_frame_error()

    def on_resize(self, event: events.Resize) -> None:
        """Parts give way as the pane narrows: the form takes two lines, the side (saved
        requests and the history) goes (recalled when maximised), then the Send button (enter
        and ctrl+s send); a short pane keeps fewer frames in sight."""
        width = event.size.width
        self.set_class(width < ONE_LINE_FORM, "-two-line-form")
        self.set_class(width < WITH_SIDE, "-no-side")
        self.set_class(width < WITH_SEND, "-no-send")
        self.set_class(event.size.height < TALL, "-short")
        self.set_class(event.size.height < SHORT, "-tiny")

    # --- what the app and the collections call -------------------------------------------

    def current_request(self) -> RequestSpec:
        """The request the form holds (the file request as its one JSON frame)."""
        if self.template == "file":
            path = self.query_one("#composer-path", Input).value
            return RequestSpec(self.default_endpoint, (file_request(path),), "REQ", name=path)
        return RequestSpec(
            self.query_one("#composer-endpoint", Input).value,
            self.frame_list.frames,
            self.socket,
            name=self._request_name,
            timeout_ms=self._timeout_ms,
        )

    def load_request(self, spec: RequestSpec) -> AwaitComplete:
        """Show `spec` in the form, as any message (its endpoint, or the default when empty);
        await the result where the frames must be in place before going on. A frame with
        characters a terminal must not be sent shows as the same bytes in hex."""
        self._use_template("message")
        endpoint = printable(spec.endpoint or self.default_endpoint)
        self.query_one("#composer-endpoint", Input).value = endpoint
        self._set_socket(spec.socket)
        self._request_name = spec.name
        self._timeout_ms = spec.timeout_ms
        return AwaitComplete(self._show_frames(spec.frames))

    async def _show_frames(self, frames: tuple[str, ...]) -> None:
        await self.frame_list.set_frames(frames)
        self._show_frame_error()

    @property
    def library(self) -> RequestLibrary | None:
        """The saved requests and history beside the response, once placed."""
        found = self.query(RequestLibrary)
        return found.first() if found else None

    def action_save_request(self) -> None:
        """Save the request in the form to the collection, under a name asked for."""
        if self.library is not None:
            self.library.ask_to_save(self.current_request(), self._saved_as)

    def _saved_as(self, name: str) -> None:
        self._request_name = name

    def action_search_requests(self) -> None:
        if self.library is not None:
            self.library.focus_search()

    def action_next_environment(self) -> None:
        if self.library is not None:
            environment = self.library.cycle_environment()
            self.notify(f"environment: {environment or 'none'}", markup=False)

    def action_reload_collection(self) -> None:
        if self.library is not None:
            self.library.reload()

    def on_request_library_variables_changed(
        self, message: RequestLibrary.VariablesChanged
    ) -> None:
        """Frames holding `${variables}` are checked as they will go, filled."""
        message.stop()
        self.frame_list.set_variables(message.variables)
        self._show_frame_error()

    def place_side(self, widget: Widget) -> None:
        """Show `widget` (the saved requests' tree) on the left of the response."""
        self.query_one("#composer-side", Vertical).mount(widget)
        self.add_class("-with-side")

    def show_result(self, result: RequestResult, *, send_id: int | None = None) -> None:
        """Show how one file request ended (the content highlighted, or the error) and record
        it on the send `send_id` (None: the oldest one in flight for the same path)."""
        self._show(render_result(result, self._palette()))
        entry = self._in_flight_entry(send_id, result.path, 1)
        if entry is not None:
            self._settle(entry)

    def show_send_result(self, result: SendResult, *, send_id: int | None = None) -> None:
        """Show a message's reply, its frames decoded, and record it on the send `send_id`."""
        entry = self._in_flight_entry(send_id, None, 1)
        self.reply_decoder = AUTO
        self._show(render_send_result(result, self._palette()))
        self._reply = result
        if entry is not None:
            self._settle(entry)

    def show_summary(self, summary: LoadSummary, *, send_id: int | None = None) -> None:
        """Show what a load of `count` file requests saw, and record it on the send `send_id`."""
        self._show(render_summary(summary, self._palette()))
        entry = self._in_flight_entry(send_id, summary.path, summary.count)
        if entry is not None:
            self._settle(entry)
        self._show_loads()

    def show_send_summary(self, summary: SendSummary, *, send_id: int | None = None) -> None:
        """Show what a message sent `count` times saw, and record it on the send `send_id`."""
        entry = self._in_flight_entry(send_id, None, summary.count)
        what = printable(entry.label) if entry is not None else "messages"
        self._show(render_send_summary(summary, what, self._palette()))
        if entry is not None:
            self._settle(entry)
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
            path = entry.label
            if cancelled and entry.count > 1:
                outcome += f" after {entry.done or 0:,} of {entry.count:,}"
            if entry.send_id == self._awaited:
                self._show([Text.assemble(("✖ ", self._palette().error), printable(outcome))])
            self._settle(entry)
        self._show_loads()
        told = outcome if cancelled else reason
        self._status(f"{printable(path)}: {printable(told)}", error=True)

    def show_progress(self, done: int, total: int, *, send_id: int | None = None) -> None:
        """Show how far the load run `send_id` has come beside the progress bar, when it is the
        newest load in flight."""
        entry = self._in_flight_entry(send_id, None, total)
        if entry is None:
            return
        entry.done = done
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

    @property
    def frame_list(self) -> FrameList:
        return self.query_one("#composer-frames", FrameList)

    # --- the form ------------------------------------------------------------------------

    def action_edit(self) -> None:
        """Enter the form: the path (file request) or the first frame (`escape` leaves it)."""
        if self.template == "file":
            field = self.query_one("#composer-path", Input)
        else:
            field = self.frame_list.fields[0]
        field.focus()
        field.action_end()

    def fill(self, path: str, count: int = 1, concurrency: int = 1) -> None:
        """Put a file request into the form."""
        self._use_template("file")
        self.query_one("#composer-path", Input).value = path
        self.fill_numbers(count, concurrency)

    def fill_numbers(self, count: int, concurrency: int) -> None:
        """Send the next request `count` times, `concurrency` at a time (as it was sent, when
        recalled from the history)."""
        self.query_one("#composer-count", Input).value = str(count)
        self.query_one("#composer-concurrency", Input).value = str(concurrency)

    def action_toggle_template(self) -> None:
        """Switch between any message and the book's file request; focus its first field."""
        self._use_template("message" if self.template == "file" else "file")
        if self.app.focused is not None and self in self.app.focused.ancestors:
            self.action_edit()

    def _use_template(self, template: Template) -> None:
        self.template = template
        self.set_class(template == "file", "-file")
        self._show_frame_error()
        self.refresh_bindings()

    def action_toggle_socket(self) -> None:
        """REQ (one at a time, Lazy Pirate) or DEALER (many in flight, replies matched)."""
        kinds = SOCKET_KINDS
        self._set_socket(kinds[(kinds.index(self.socket) + 1) % len(kinds)])

    def _set_socket(self, kind: SocketKind) -> None:
        self.socket = kind
        self.query_one("#composer-socket", Button).label = kind

    @on(Button.Pressed, "#composer-socket")
    def _socket_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_toggle_socket()

    # --- frames --------------------------------------------------------------------------

    def _frame_index(self) -> int | None:
        return self.frame_list.focused_index()

    async def action_add_frame(self) -> None:
        """A new text frame after the focused one (at the end when no frame has focus)."""
        field = await self.frame_list.add_frame(self._frame_index())
        field.focus()
        field.action_end()
        self._show_frame_error()

    async def action_drop_frame(self) -> None:
        """Remove the focused frame (the message keeps at least one)."""
        index = self._frame_index()
        if index is None:
            return
        await self.frame_list.drop_frame(index)
        fields = self.frame_list.fields
        fields[min(index, len(fields) - 1)].focus()
        self._show_frame_error()

    def action_move_frame(self, delta: int) -> None:
        """Move the focused frame up (-1) or down (1)."""
        index = self._frame_index()
        if index is not None:
            moved = self.frame_list.move_frame(index, delta)
            self.frame_list.fields[moved].focus()
            self._show_frame_error()

    def action_retype_frame(self) -> None:
        """Write the focused frame as the next kind (json, text, hex, b64, @file)."""
        index = self._frame_index()
        if index is None:
            return
        field = self.frame_list.fields[index]
        kind = FRAME_KINDS[(FRAME_KINDS.index(frame_kind(field.value)) + 1) % len(FRAME_KINDS)]
        field.value = retype_frame(field.value, kind)
        field.action_end()

    @on(Input.Changed, ".composer-frame")
    def _frame_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show_frame_error()

    def _show_frame_error(self) -> None:
        """Say what is wrong with the first frame that does not parse (marked in its field)."""
        line = self.query_one("#composer-frame-error", Static)
        errors = self.frame_list.errors() if self.template == "message" else []
        if errors:
            index, error = errors[0]
            line.update(Text(f"frame {index + 1}: {printable(str(error))}"))
        line.set_class(bool(errors), "-shown")

    # --- sending -------------------------------------------------------------------------

    def _read_numbers(self, problems: list[str], invalid: list[Input]) -> tuple[int, int]:
        numbers: list[int] = []
        for input_id in ("#composer-count", "#composer-concurrency"):
            field = self.query_one(input_id, Input)
            validation = field.validate(field.value)
            if validation is not None and not validation.is_valid:
                problems.extend(validation.failure_descriptions)
                invalid.append(field)
                numbers.append(0)
            else:
                numbers.append(int(field.value))
        return numbers[0], numbers[1]

    def _refuse(self, problems: list[str], invalid: list[Input]) -> bool:
        """Show what is wrong with the form, if anything; True when it is."""
        if problems:
            self._status("; ".join(problems), error=True)
            invalid[0].focus()
        return bool(problems)

    def _read_form(self) -> tuple[str, int, int] | None:
        """The file request form's values, or None after showing what is wrong with them."""
        path_input = self.query_one("#composer-path", Input)
        problems: list[str] = []
        invalid: list[Input] = []
        path_input.set_class(not path_input.value, "-invalid")
        if not path_input.value:
            problems.append("path: required")
            invalid.append(path_input)
        count, concurrency = self._read_numbers(problems, invalid)
        return None if self._refuse(problems, invalid) else (path_input.value, count, concurrency)

    def _read_message(self) -> tuple[RequestSpec, int, int] | None:
        """The message form's request and numbers, or None after showing what is wrong."""
        spec = self.current_request()
        problems: list[str] = []
        invalid: list[Input] = []
        endpoint = self.query_one("#composer-endpoint", Input)
        endpoint.set_class(not spec.endpoint, "-invalid")
        if not spec.endpoint:
            problems.append("endpoint: required")
            invalid.append(endpoint)
        for index, error in self.frame_list.errors():
            problems.append(f"frame {index + 1}: {printable(error.reason)}")
            invalid.append(self.frame_list.fields[index])
        count, concurrency = self._read_numbers(problems, invalid)
        return None if self._refuse(problems, invalid) else (spec, count, concurrency)

    def action_send(self) -> None:
        """Send what the form says."""
        if self.template == "file":
            form = self._read_form()
            if form is not None:
                self._send(*form)
        else:
            message = self._read_message()
            if message is not None:
                self._send_message(*message)

    def action_cycle_decoder(self) -> None:
        """Read the reply shown with the next decoder (`auto` picks one per frame)."""
        reply = self._reply
        if reply is not None:
            decoder = next_choice(self.reply_decoder)
            self._show(render_send_result(reply, self._palette(), decoder))
            self._reply, self.reply_decoder = reply, decoder

    def action_cancel(self) -> None:
        """Stop every send in flight (a load run stops sending at once)."""
        if self._in_flight:
            self.post_message(self.CancelRequested(tuple(self._in_flight)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _LIBRARY_ACTIONS:
            return self.library is not None
        if action == "cancel":
            return bool(self._in_flight)
        if action == "cycle_decoder":
            return self._reply is not None and self._reply.reply is not None
        if action in ("add_frame", "toggle_socket"):
            return self.template == "message"
        if action in ("drop_frame", "move_frame", "retype_frame"):
            return self.template == "message" and isinstance(self.app.focused, FrameInput)
        return True

    def _start(self, entry: PendingSend, waiting_for: str) -> None:
        self._in_flight[entry.send_id] = entry
        self._show([Text(f"waiting for {waiting_for}…", self._palette().label)])
        self._awaited = entry.send_id
        self.refresh_bindings()

    def _send(self, path: str, count: int, concurrency: int) -> None:
        send_id = next(self._send_ids)
        self._start(PendingSend(path, count, send_id), printable(path))
        noun = "request" if count == 1 else f"{count:,} requests, {concurrency} at a time,"
        self._status(f"sent {noun} for {printable(path)}")
        self.post_message(self.SendRequested(path, count, concurrency, send_id))

    def _send_message(self, spec: RequestSpec, count: int, concurrency: int) -> None:
        send_id = next(self._send_ids)
        self._start(PendingSend(message_label(spec), count, send_id), "the reply")
        noun = "message" if count == 1 else f"{count:,} messages, {concurrency} at a time,"
        self._status(f"sent {noun} over {spec.socket} to {printable(spec.endpoint)}")
        self.post_message(self.MessageSendRequested(spec, count, concurrency, send_id))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_send()

    @on(Button.Pressed, "#composer-send")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_send()

    # --- sends in flight ------------------------------------------------------------------

    def _in_flight_entry(
        self, send_id: int | None, path: str | None, count: int
    ) -> PendingSend | None:
        """The send an outcome or progress is for: `send_id`, or without one (from a backend
        that keeps no ids) the oldest send in flight with the same path and count."""
        if send_id is not None:
            return self._in_flight.get(send_id)
        for entry in self._in_flight.values():
            if entry.count == count and path in (None, entry.label):
                return entry
        return None

    def _settle(self, entry: PendingSend) -> None:
        del self._in_flight[entry.send_id]
        if entry.send_id == self._awaited:
            self._awaited = None
        self.refresh_bindings()
        self._status("")

    def _show_loads(self) -> None:
        """The newest load run that reported progress beside the bar; none: no bar."""
        loads = [e for e in self._in_flight.values() if e.count > 1 and e.done is not None]
        line = self.query_one("#composer-status-line")
        line.set_class(bool(loads), "-loading")
        if not loads:
            return
        newest = loads[-1]
        done = newest.done or 0
        text = f"{done:,} of {newest.count:,} answered for {printable(newest.label)}"
        if len(loads) > 1:
            text = f"{len(loads)} loads, the newest: {text}"
        self.query_one("#composer-load", Static).update(
            Text(text, no_wrap=True, overflow="ellipsis"), layout=False
        )  # its width is the line's rest: no layout of the screen for each progress report
        self.query_one("#composer-progress", ProgressBar).update(total=newest.count, progress=done)

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
        self._reply = None
        self.query_one("#composer-response", ResponseLog).show(renderables)
        self.refresh_bindings()

    def _status(self, message: str, *, error: bool = False) -> None:
        status = self.query_one("#composer-status", Static)
        status.update(Text(message, no_wrap=True, overflow="ellipsis"))
        status.set_class(error, "-error")
        # An error shows even while a load run's line holds the place.
        self.query_one("#composer-status-line").set_class(error, "-error")
