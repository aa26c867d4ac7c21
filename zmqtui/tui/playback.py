"""`zmqtui --open FILE`: the monitor on a recording, with a time position instead of sockets.

The publisher and subscriber panes list the recording's messages up to the position, with the
live monitor's filters, prefixes, decoders and export (the backend feeds the same ingest
streams from the file). The requests and workers panes need live sockets: they are hidden, and
say why when shown. A bar shows the position at all times: playing or paused, the speed, the
time and offset of the last message taken in, and its number.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from zmqtui.text import printable
from zmqtui.timeline import NS_PER_S, TARGET_HELP, Position, Target, describe, parse_target
from zmqtui.tui.app import PaneFrame, ZmqtuiApp
from zmqtui.tui.backend import NO_SOCKETS, PlaybackBackend
from zmqtui.tui.messages import PlaybackPositioned
from zmqtui.tui.widgets.key_bar import KeyBar

SPEED_KEYS = Binding.Group("Speed", compact=True)
STEP_KEYS = Binding.Group("Step", compact=True)


class PositionBar(Static):
    """One line: where the recording is (state, speed, time, offset, message N of M), and which
    recording it is."""

    DEFAULT_CSS = """
    PositionBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(self, recording: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.recording = recording

    def on_mount(self) -> None:
        self.show_position(None)

    def show_position(self, position: Position | None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if position is None:
            text.append("opening the recording…")
        else:
            text.append(describe(position), "bold" if position.playing else "")
        text.append(f" │ {printable(self.recording)}", "dim")
        self.update(text)


class GoToScreen(ModalScreen[Target | None]):
    """Asks where to go: a time, an offset from the recording's start, or a message number."""

    DEFAULT_CSS = """
    GoToScreen {
        align: center middle;
        & > Vertical {
            width: 64;
            max-width: 100%;
            height: auto;
            border: round $primary;
            background: $surface;
            padding: 0 1;
        }
        & #goto-error { color: $text-error; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_target", "Cancel", tooltip="close, staying where it is"),
    ]

    def __init__(self, start_ns: int) -> None:
        super().__init__()
        self.start_ns = start_ns

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Go to"
            yield Static(f"Type {TARGET_HELP}, then enter.")
            yield Input(placeholder="+30s", id="goto-input")
            yield Static("", id="goto-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            target = parse_target(event.value, self.start_ns)
        except ValueError as exc:
            self.query_one("#goto-error", Static).update(Text(printable(str(exc))))
            return
        self.dismiss(target)

    def action_dismiss_target(self) -> None:
        self.dismiss(None)


class PlaybackApp(ZmqtuiApp):
    """The monitor on a recording: the live monitor's panes and keys, and these to move in time.

    Args:
        backend: plays the recording (`zmqtui.tui.playback_bridge.PlaybackBridge`).
        Others as `ZmqtuiApp`.
    """

    HELP = """\
## A recording (`--open FILE`)

The panes show a recording, not live sockets: its messages up to a **time position**, with
the filters, subscriptions, decoders, topics view and export of the live monitor. The bar above
the keys says where: playing or paused, the speed, the receive time of the last message taken
in and its offset from the start, and its number. `space` plays at the recorded pace times the
speed, `[` and `]` step, `g` goes to a time, an offset or a message number, `<` and `>` halve
and double the speed. The requests and workers panes need live sockets: they are hidden.
"""

    ALLOW_IN_MAXIMIZED_VIEW = "KeyBar, PositionBar"
    CSS = "#connection-bar { display: none; }"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "space",
            "toggle_play",
            "Play/pause",
            tooltip="play the recording from the position at the speed shown, or pause it",
        ),
        Binding(
            "left_square_bracket",
            "step(-1)",
            "Step back",
            tooltip="pause and go back one message",
            group=STEP_KEYS,
        ),
        Binding(
            "right_square_bracket",
            "step(1)",
            "Step",
            tooltip="pause and go on one message",
            group=STEP_KEYS,
        ),
        Binding("g", "go_to", "Go to", tooltip=f"go to {TARGET_HELP}"),
        Binding(
            "less_than_sign", "speed(0.5)", "Slower", tooltip="halve the speed", group=SPEED_KEYS
        ),
        Binding(
            "greater_than_sign",
            "speed(2)",
            "Faster",
            tooltip="double the speed",
            group=SPEED_KEYS,
        ),
    ]
    """Moving in the recording (with the live monitor's keys)."""

    backend: PlaybackBackend

    def __init__(self, backend: PlaybackBackend, **options: object) -> None:
        super().__init__(backend, **options)  # type: ignore[arg-type]
        self.position: Position | None = None

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, KeyBar):
                yield PositionBar(self.backend.recording.name, id="position-bar")
            yield widget

    def mode_description(self) -> str:
        return f"recording {printable(str(self.backend.recording))}"

    def on_mount(self) -> None:
        for frame in self.query(PaneFrame):
            if frame.pane.SOCKET in NO_SOCKETS:  # off: nothing will come
                frame.display = False
        self._fit_rows()

    @property
    def position_bar(self) -> PositionBar:
        return self.query_one(PositionBar)

    def view_clock(self) -> float:
        """The recording's time at the position, in seconds since the epoch: the topics view's
        "last seen" is reckoned from it, not from now."""
        if self.position is None:
            return self.clock()
        return self.position.time_ns / NS_PER_S

    def on_playback_positioned(self, message: PlaybackPositioned) -> None:
        if self.is_running:
            self.position = message.position
            self.position_bar.show_position(message.position)

    def action_toggle_play(self) -> None:
        self.backend.toggle_play()

    def action_step(self, count: int) -> None:
        self.backend.step(count)

    def action_speed(self, factor: float) -> None:
        self.backend.change_speed(factor)

    def action_go_to(self) -> None:
        if self.position is None:
            self.notify("the recording is still opening", severity="warning", markup=False)
            return

        def chosen(target: Target | None) -> None:
            if target is not None:
                self.backend.go(target)

        self.push_screen(GoToScreen(self.position.start_ns), chosen)
