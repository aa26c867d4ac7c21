"""A renderable shown whole and scrollable, replaced many times a second without a layout.

A `Static` in a scrolling container asks for a layout of the whole screen whenever its content
may have changed height, and under a flood the newest message's height keeps changing (a note
more or less, a long path): each layout redraws the screen and stalls the keys. Here the
renderable is rendered to lines once per update, on the Line API, and a new height only moves
the scrollbar.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class DetailView(ScrollView):
    """Shows one renderable, scrolled back to its top each time it is replaced."""

    DEFAULT_CSS = """
    DetailView {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.renderable: RenderableType = Text()
        self._strips: list[Strip] = []

    def update(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self._render_strips()
        self.scroll_to(y=0, animate=False, immediate=True)

    def on_resize(self) -> None:
        self._render_strips()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._render_strips()  # the strips carry the old colours (a theme change)

    def _render_strips(self) -> None:
        width = self.scrollable_content_region.width
        if not self.is_mounted or width <= 0:
            return  # rendered on the first resize
        console = self.app.console
        lines = console.render_lines(
            self.renderable, console.options.update_width(width), style=self.rich_style
        )
        self._strips = [Strip(line, width) for line in lines]
        size = Size(width, len(self._strips))
        if size != self.virtual_size:
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        position = int(self.scroll_offset.y) + y
        if 0 <= position < len(self._strips):
            return self._strips[position]
        return Strip.blank(self.scrollable_content_region.width, self.rich_style)
