"""The pane contract: what the app asks of every pane, so that it never asks which pane it has.

A pane of the monitor subclasses `Pane` and

- names itself: `TITLE` (the frame's border), `HELP` (what it shows, for the help screen; its
  keys come from its `BINDINGS`), and `SOCKET`, the backend socket (`SOCKET_NAMES`) whose
  endpoint and state its frame shows, if any;
- gives its `main_control`: where focus goes when the pane is chosen (`1`-`4`, `escape` from a
  field), the control its keys work from; never a text field, so `q` or `h` reach the app;
- yields an `OfflineBanner` in `compose` (first, usually): `set_offline(reason)` shows the
  reason there and sets the pane's `-offline` class, `set_online()` takes both down;
- hears about its socket through `show_connection`: by default, a socket without an endpoint
  ("off") sets the pane offline for good; a pane whose data stops when the connection breaks
  overrides it to say so too;
- styles its text (`rich.text.Text`) with `pane_style`: the shared component classes
  (`pane--label`, `pane--value`, `pane--ok`, `pane--warning`, `pane--error`, `pane--accent`)
  are styled here once; a pane adds its own `pane--NAME` classes beside them.

The app puts each pane in a frame (border, title, connection line) and routes the backend's
messages to it; everything else a pane does stays inside it.

One layout trap: a child with an `fr` height (the pane's list) beside a sibling with side
margins (an input line's `margin: 0 1`) loses those margins from its width, in Textual's
vertical layout: give it `width: 100%`.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from zmqtui.text import printable
from zmqtui.tui.backend import ENDPOINT_OPTIONS
from zmqtui.tui.widgets.table import component_style


class OfflineBanner(Static):
    """One line across the top of a pane: why its data cannot come (hidden while it can)."""

    DEFAULT_CSS = """
    OfflineBanner {
        display: none;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        background: $error-muted;
        color: $text;
        padding: 0 1;
        text-style: bold;
    }
    """


class Pane(Widget):
    """One of the monitor's panes (see the module's docstring for the contract)."""

    TITLE: ClassVar[str] = ""
    """The pane's name in its frame's border, the help and the palette."""

    HELP: ClassVar[str] = ""
    """What the pane shows, for the help screen (Markdown)."""

    SOCKET: ClassVar[str | None] = None
    """The backend socket whose endpoint and state the pane's frame shows."""

    NO_ENDPOINT: ClassVar[str] = "nothing to show here"
    """What a missing endpoint means for the pane (after "no --sub endpoint given: ")."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "pane--label",
        "pane--value",
        "pane--ok",
        "pane--warning",
        "pane--error",
        "pane--accent",
    }

    DEFAULT_CSS = """
    Pane {
        width: 1fr;
        height: 1fr;
        layout: vertical;
        overflow: hidden hidden;
        & > .pane--label { color: $text-muted; }
        & > .pane--value { text-style: bold; }
        & > .pane--ok { color: $text-success; }
        & > .pane--warning { color: $text-warning; }
        & > .pane--error { color: $text-error; }
        & > .pane--accent { color: $text-accent; }
        &.-offline > OfflineBanner { display: block; }
    }
    """

    offline_reason: str | None = None
    """Why the pane's data cannot come now (None: it can)."""

    @property
    def main_control(self) -> Widget:
        """The control focus goes to when the pane is chosen; its keys work from there."""
        raise NotImplementedError(f"{type(self).__name__} names no main control")

    def set_offline(self, reason: str) -> None:
        """Say why the pane's data cannot come now, in its banner."""
        self.offline_reason = reason
        self.show_banner(reason)

    def set_online(self) -> None:
        """Take the offline banner down."""
        self.offline_reason = None
        self.show_banner("")

    def show_banner(self, text: str) -> None:
        """Show `text` in the banner (plain text, escaped), or take it down for "": for a pane
        whose banner says more than why it is offline (the workers': the cluster exited).
        The banner is one line: cut short, it is whole in its tooltip."""
        banner = self.query_one(OfflineBanner)
        banner.update(Text(printable(text)))
        banner.tooltip = Text(printable(text)) if text else None
        self.set_class(bool(text), "-offline")

    def show_connection(self, state: str, endpoint: str | None, detail: str = "") -> None:
        """The pane's socket is now in `state` (bound, connected, connecting, ... off).

        Args:
            state: as the connection bar shows it; "off" means no endpoint was given.
            endpoint: where the socket binds or connects, when known.
            detail: why, for a state that is a failure or "off" for another reason (a
                recording has no sockets) than a missing option.
        """
        if state == "off" and self.SOCKET is not None:
            option = ENDPOINT_OPTIONS[self.SOCKET]
            self.set_offline(detail or f"no {option} endpoint given: {self.NO_ENDPOINT}")

    def pane_style(self, name: str) -> Style:
        """The style of component class `pane--NAME`, for text the pane renders itself."""
        return component_style(self, f"pane--{name}")
