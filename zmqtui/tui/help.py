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

from zmqtui.tui.app import PANE_TITLES, PANES
from zmqtui.tui.keys import key_entries, key_table

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

PANE_HELP = {
    "publisher": "Every event the watcher publishes (seq, kind, time, path), the count and "
    "rate, the subscribers connected to its XPUB socket and their subscriptions. Attached, "
    "the pane shows what a SUB socket receives from the publisher.",
    "subscriber": "What a SUB socket receives: time, lag (receive time minus the event's "
    "timestamp), seq, kind, path. ⚠ marks a gap in seq, a new or restarted publisher or a "
    "feed falling behind. The selected message is shown whole below the list.\n\n"
    "A subscription prefix that starts with `{` filters on the raw message; any other prefix "
    "on the beginning of the file path. Exports go to `~/.local/share/zmqtui/captures` "
    "(`$XDG_DATA_HOME`, or the `export_dir` setting), never into the watched directory; the "
    "notification names the file.",
    "composer": "Send a file request once, or *count* times with *concurrency* in flight; see "
    "the reply, pid, latency and retries; recall earlier requests from the history (`enter` on "
    "one puts it in the form). `→` in the path field completes a path from the served "
    "directory.",
    "workers": "The cluster's processes, live; kill or restart the selected one, scale the "
    "cluster up or down. Rows no stats have confirmed for 5 s are dimmed as *stale*, with "
    "their age; a key that cannot act now says why.",
}
"""What each pane shows; its keys come from its `BINDINGS`."""


def help_markdown(app: ZmqtuiApp) -> str:
    """The help: what each pane shows, and every key, read from the bindings."""
    display = app.get_key_display
    palette = Binding(
        app.COMMAND_PALETTE_BINDING,
        "command_palette",
        "Palette",
        tooltip="command palette: every action by name",
    )
    everywhere = [*Binding.make_bindings(app.BINDINGS), palette]
    parts = [
        INTRO,
        "## Keys everywhere",
        key_table(key_entries(everywhere, display, by_group=True)),
    ]
    for key, name in enumerate(PANES, start=1):
        parts.append(f"## {key} {PANE_TITLES[name]}")
        parts.append(PANE_HELP[name])
        entries = key_entries(app.pane_bindings(name, navigation=True), display)
        if entries:
            parts.append(key_table(entries))
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
