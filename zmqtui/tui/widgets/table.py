"""A small Line-API table for live data: keyed rows updated by diff, a cursor that follows its key.

`DataTable.update_cell` costs a lot at monitor refresh rates; this table renders only the
visible lines, re-renders only rows whose cells changed, and never resets cursor or scroll
when rows come and go.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from zmqtui.text import printable

Cell = str | Text
"""A cell's content: a plain string (never parsed as markup) or styled `Text`."""


def component_style(widget: Widget, name: str) -> Style:
    """A component class's style for `Text` inside the widget: the colour blended as the
    CSS says (`$text-muted` is translucent), a background only where the CSS sets one."""
    partial = widget.get_component_rich_style(name, partial=True)
    full = widget.get_component_rich_style(name)
    return partial + Style(color=full.color) if partial.color else partial


@dataclass(frozen=True, slots=True)
class Column:
    """One column: a key naming it, the header label, a fixed width and the alignment."""

    key: str
    label: str
    width: int
    justify: Literal["left", "right"] = "left"
    drop_order: int | None = None
    """When the table is narrower than its columns, those with a `drop_order` are left out,
    the lowest first, until the rest fit; None: always shown."""
    grow_to: int | None = None
    """When the table is wider than its columns, this column takes the room left, up to this
    width (a long name then shows whole); None: always `width`."""


def columns_that_fit(columns: Sequence[Column], width: int) -> tuple[Column, ...]:
    """`columns` less the droppable ones, lowest `drop_order` first, until they fit `width`."""
    shown = list(columns)
    droppable = sorted(
        (column for column in columns if column.drop_order is not None),
        key=lambda column: column.drop_order or 0,
    )
    for column in droppable:
        if _total_width(shown) <= width:
            break
        shown.remove(column)
    return tuple(shown)


def grown(columns: Sequence[Column], width: int) -> tuple[Column, ...]:
    """`columns` with the room `width` leaves beyond them given to those with a `grow_to`,
    in order, each up to its `grow_to`."""
    room = width - _total_width(columns)
    result = []
    for column in columns:
        if room > 0 and column.grow_to is not None and column.grow_to > column.width:
            extra = min(room, column.grow_to - column.width)
            room -= extra
            column = replace(column, width=column.width + extra)
        result.append(column)
    return tuple(result)


def _total_width(columns: Sequence[Column]) -> int:
    return sum(column.width for column in columns) + max(0, len(columns) - 1)


def _as_text(cell: Cell) -> Text:
    """A single-line `Text` for a cell; control characters cannot break the line."""
    text = Text(cell) if isinstance(cell, str) else cell.copy()
    plain = text.plain
    safe = printable(plain)
    return text if safe == plain else Text(safe, style=text.style)


def _same_cells(old: tuple[Text, ...] | None, new: tuple[Text, ...]) -> bool:
    """Equal text and styles (`Text.__eq__` ignores the base style)."""
    return old is not None and all(
        a.plain == b.plain and a.style == b.style and a.spans == b.spans
        for a, b in zip(old, new, strict=True)
    )


class LiveTable(ScrollView, can_focus=True):
    """A table of keyed rows with a row cursor, for data that changes every second.

    The header stays in place while rows scroll. `set_rows` takes the whole new set of
    rows; rows are compared with what is on screen and only changed lines are repainted.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First row", show=False),
        Binding("end", "last", "Last row", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"live-table--header", "live-table--cursor"}

    DEFAULT_CSS = """
    LiveTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        & > .live-table--header {
            background: $panel;
            color: $foreground;
            text-style: bold;
        }
        & > .live-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .live-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    @dataclass
    class RowHighlighted(Message):
        """The cursor moved to another row (`key` is None when the table is empty)."""

        live_table: LiveTable
        key: Hashable | None

        @property
        def control(self) -> LiveTable:
            return self.live_table

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._columns = tuple(columns)
        self._shown: tuple[int, ...] = tuple(range(len(self._columns)))
        """Indexes of the columns that fit the table's width."""
        self._fitted: tuple[Column, ...] = self._columns
        """The columns shown, as wide as they are shown (a `grow_to` column widened)."""
        self._hidden: frozenset[str] = frozenset()
        """Keys of the columns left out whatever the width."""
        self._width = _total_width(self._columns)
        self._keys: list[Hashable] = []
        self._index: dict[Hashable, int] = {}
        self._cells: dict[Hashable, tuple[Text, ...]] = {}
        self._strips: dict[Hashable, Strip] = {}
        self._cursor = 0
        self._header_strip: Strip | None = None
        self.virtual_size = Size(self._width, 1)

    @property
    def columns(self) -> tuple[Column, ...]:
        return self._columns

    @property
    def shown_columns(self) -> tuple[Column, ...]:
        """The columns on screen, as wide as shown: those that fit, the droppable ones left out
        first."""
        return self._fitted

    @property
    def row_keys(self) -> tuple[Hashable, ...]:
        """Keys of the rows in display order."""
        return tuple(self._keys)

    @property
    def cursor_row(self) -> int | None:
        """Index of the cursor row, or None when the table is empty."""
        return self._cursor if self._keys else None

    @property
    def cursor_key(self) -> Hashable | None:
        """Key of the row under the cursor, or None when the table is empty."""
        return self._keys[self._cursor] if self._keys else None

    def get_row(self, key: Hashable) -> tuple[Text, ...]:
        """The cells of the row with `key` as they are shown (KeyError if absent)."""
        return self._cells[key]

    def set_rows(self, rows: Iterable[tuple[Hashable, Sequence[Cell]]]) -> None:
        """Show exactly `rows`, in this order, repainting only what changed.

        The cursor stays on the row with the same key; if that row is gone it stays at
        the same index (clamped). The scroll position is left alone.
        """
        old_keys = self._keys
        old_cursor_key = self.cursor_key
        new_keys: list[Hashable] = []
        changed: list[Hashable] = []
        new_cells: dict[Hashable, tuple[Text, ...]] = {}
        for key, cells in rows:
            if key in new_cells:
                raise ValueError(f"duplicate row key {key!r}")
            texts = tuple(_as_text(cell) for cell in cells)
            if len(texts) != len(self._columns):
                raise ValueError(f"row {key!r} has {len(texts)} cells for {len(self._columns)}")
            new_keys.append(key)
            new_cells[key] = texts
            if not _same_cells(self._cells.get(key), texts):
                changed.append(key)
                self._strips.pop(key, None)
        for key in self._cells.keys() - new_cells.keys():
            self._strips.pop(key, None)
        self._cells = new_cells

        layout_changed = new_keys != old_keys
        if layout_changed:
            self._keys = new_keys
            self._index = {key: i for i, key in enumerate(new_keys)}
            if old_cursor_key in self._index:
                self._cursor = self._index[old_cursor_key]
            else:
                self._cursor = max(0, min(self._cursor, len(new_keys) - 1))
            self.virtual_size = Size(self._width, len(new_keys) + 1)
            self.refresh()
        else:
            for key in changed:
                self.refresh_lines(self._index[key] + 1)
        if self.cursor_key != old_cursor_key:
            self.post_message(self.RowHighlighted(self, self.cursor_key))

    def move_cursor(self, row: int) -> None:
        """Put the cursor on row index `row` (clamped) and scroll it into view."""
        if not self._keys:
            return
        row = max(0, min(row, len(self._keys) - 1))
        if row == self._cursor:
            self._scroll_cursor_into_view()
            return
        previous = self._cursor
        self._cursor = row
        self.refresh_lines(previous + 1)
        self.refresh_lines(row + 1)
        self._scroll_cursor_into_view()
        self.post_message(self.RowHighlighted(self, self.cursor_key))

    # --- keys and mouse ------------------------------------------------------------------

    @property
    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - self._page_rows)

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + self._page_rows)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._keys) - 1)

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        row = round(self.scroll_offset.y) + offset.y - 1
        if 0 <= row < len(self._keys):
            self.move_cursor(row)

    def _scroll_cursor_into_view(self) -> None:
        top = round(self.scroll_offset.y)
        visible = self._page_rows
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True)

    def hide_columns(self, keys: Iterable[str]) -> None:
        """Leave out the columns with these keys (and show the others again)."""
        hidden = frozenset(keys)
        if hidden != self._hidden:
            self._hidden = hidden
            self._fit_columns()

    def _on_resize(self, event: events.Resize) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        candidates = [column for column in self._columns if column.key not in self._hidden]
        width = self.scrollable_content_region.width
        fitting = columns_that_fit(candidates, width)
        shown = tuple(index for index, column in enumerate(self._columns) if column in fitting)
        fitted = grown(fitting, width)
        if (shown, fitted) != (self._shown, self._fitted):
            self._shown, self._fitted = shown, fitted
            self._width = _total_width(fitted)
            self.virtual_size = Size(self._width, len(self._keys) + 1)
            self._header_strip = None
            self._strips.clear()
            self.refresh()

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh()

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._header_strip = None
        self._strips.clear()
        self.refresh()

    # --- rendering -----------------------------------------------------------------------

    def _render_cells(self, cells: Sequence[Text]) -> Strip:
        line = Text(no_wrap=True, end="")
        for index, column in zip(self._shown, self._fitted, strict=True):
            cell = cells[index]
            if line:
                line.append(" ")
            cell = cell.copy()
            cell.truncate(column.width, overflow="ellipsis")
            padding = " " * (column.width - cell.cell_len)
            if column.justify == "right":
                line.append(padding)
                line.append_text(cell)
            else:
                line.append_text(cell)
                line.append(padding)
        return Strip(list(line.render(self.app.console)), self._width)

    def _header(self) -> Strip:
        if self._header_strip is None:
            labels = [Text(column.label) for column in self._columns]
            self._header_strip = self._render_cells(labels)
        return self._header_strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("live-table--header")
            return self._header().apply_style(style).crop_extend(scroll_x, scroll_x + width, style)
        row = scroll_y + y - 1
        if row >= len(self._keys):
            return Strip.blank(width, base)
        key = self._keys[row]
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._render_cells(self._cells[key])
        if row != self._cursor:
            return strip.apply_style(base).crop_extend(scroll_x, scroll_x + width, base)
        # The cursor bar overrides the cells' own colours, as in htop and k9s.
        cursor = self.get_component_rich_style("live-table--cursor", partial=True)
        bar = Strip(Segment.apply_style(strip, base, cursor), strip.cell_length)
        return bar.crop_extend(scroll_x, scroll_x + width, base + cursor)
