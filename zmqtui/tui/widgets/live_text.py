"""Text that changes many times a second without costing a screen layout each time.

`Static.update` asks for a new layout of the whole screen (its size might change); a pane's
counters change with every batch under a flood. `LiveText` keeps a fixed size (set in CSS),
takes new text as often as it comes and repaints at most `FPS` times a second.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget

FPS = 10


class LiveText(Widget):
    """A fixed-size widget showing the latest text it was given."""

    DEFAULT_CSS = """
    LiveText { height: 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text: RenderableType = Text()
        self._shown: RenderableType | None = None
        self._frames: Timer | None = None

    @property
    def text(self) -> RenderableType:
        """The latest text (it reaches the screen within 1/FPS s)."""
        return self._text

    @property
    def up_to_date(self) -> bool:
        """True when the screen shows the latest text."""
        return self._shown is self._text

    def on_mount(self) -> None:
        self._frames = self.set_interval(1 / FPS, self._repaint, name="live text")

    def set_text(self, text: RenderableType) -> None:
        self._text = text
        if self._frames is not None:
            self._frames.resume()

    def _repaint(self) -> None:
        if self._shown is self._text:
            if self._frames is not None:
                self._frames.pause()
            return
        self._shown = self._text
        self.refresh()

    def render(self) -> RenderableType:
        return self._text
