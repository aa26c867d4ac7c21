"""Text that changes many times a second without costing a screen layout each time.

`Static.update` asks for a new layout of the whole screen (its size might change); a pane's
counters change with every batch under a flood. `LiveText` keeps a fixed size (set in CSS),
takes new text as often as it comes and repaints on the app's frame clock, or at once for a
change the user made.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.widget import Widget

from zmqtui.tui.widgets.frame_clock import frame_clock


class LiveText(Widget):
    """A fixed-size widget showing the latest text it was given."""

    DEFAULT_CSS = """
    LiveText { height: 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text: RenderableType = Text()
        self._shown: RenderableType | None = None

    @property
    def text(self) -> RenderableType:
        """The latest text (it reaches the screen on the next frame)."""
        return self._text

    @property
    def up_to_date(self) -> bool:
        """True when the screen shows the latest text."""
        return self._shown is self._text

    def on_mount(self) -> None:
        self._repaint()

    def set_text(self, text: RenderableType, *, now: bool = False) -> None:
        """Show `text` on the next frame; `now`: on the screen's next refresh (a key's answer)."""
        waiting = not self.up_to_date
        self._text = text
        if not self.is_mounted:
            return
        if now:
            self._repaint()
        elif not waiting:
            frame_clock(self.app).request(self._repaint)

    def _repaint(self) -> None:
        if self._shown is not self._text:
            self._shown = self._text
            self.refresh()

    def render(self) -> RenderableType:
        return self._text
