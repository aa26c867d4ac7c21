"""The help screen: what each pane shows and every key, in one place (F1 or ?).

Rendered by Rich's Markdown in one widget: Textual's Markdown widget builds a widget per block
and takes seconds to open on a busy machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.markdown import Markdown
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from zmqtui.tui.app import PANES, VIEWS
from zmqtui.tui.keys import declared_bindings, key_entries, key_table

if TYPE_CHECKING:
    from zmqtui.tui.app import ZmqtuiApp

INTRO = """\
# zmqtui monitor

The four panes watch the services of the *Microservices* chapter live: the file watcher's
publisher, a subscriber, the filer (send requests), and the filer cluster's workers.
The bar at the bottom shows every socket's connection: **bound**, **connected**,
**connecting**, **retrying**, **disconnected**, **failed**, or **off** (no endpoint given).
A service that is down is retried; the monitor never exits because one failed.

A pane's keys work once the pane is focused (`1` to `4`, `tab`, or a click); typing starts
when you enter a text field and `escape` leaves it. `ctrl+p` finds any of them by name.
"""


def help_markdown(app: ZmqtuiApp) -> str:
    """The help: what each pane shows, and every key, read from the bindings."""
    display = app.get_key_display
    palette = Binding(
        app.COMMAND_PALETTE_BINDING,
        "command_palette",
        "Palette",
        tooltip="command palette: every action by name",
    )
    everywhere = [*declared_bindings(type(app)), palette]
    parts = [
        INTRO,
        *([app.HELP] if app.HELP else []),  # what a special monitor adds (`--open`'s)
        "## Keys everywhere",
        key_table(key_entries(everywhere, display, by_group=True)),
    ]
    for key, name in enumerate(PANES, start=1):
        pane = PANES[name]
        parts.append(f"## {key} {pane.TITLE}")
        parts.append(pane.HELP)
        entries = key_entries(app.pane_bindings(name, navigation=True), display)
        if entries:
            parts.append(key_table(entries))
    for view in VIEWS.values():
        parts.append(f"## {view.KEY} {view.DESCRIPTION}")
        parts.append(view.HELP)
        parts.append(key_table(key_entries(declared_bindings(view), display)))
    closing = key_entries(Binding.make_bindings(HelpScreen.BINDINGS), display)[0]
    parts.append(f"Press {', '.join(f'`{k}`' for k in closing.keys)} to close this help.")
    return "\n\n".join(parts) + "\n"


class HelpScreen(ModalScreen[None]):
    """Explains the panes and lists every key."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "dismiss", "Close help"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        & > VerticalScroll {
            width: 100;
            max-width: 95%;
            height: 90%;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Markdown(self.text))
