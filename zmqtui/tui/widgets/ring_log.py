"""A bounded, follow-the-tail log on Textual's Line API.

A stock `Log` repaints on every write, and a new line changes its virtual size, which costs a
layout of the whole screen; here new items go into a fixed-size ring, the widget repaints on
the app's frame clock (`frame_clock`) and only the lines on screen, and a new size moves only
the scrollbar. The oldest items fall out of the ring; whoever feeds the log keeps the exact
counts. A log whose items are held elsewhere (the ingest side, for a feed) holds only the
`Window` of rows it asked for (`WindowMoved`) and was shown (`show`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from zmqtui.tui.widgets.frame_clock import frame_clock

T = TypeVar("T")


class Ring(Generic[T]):
    """A list of at most `capacity` items where appending past the end drops the oldest.

    Items keep an absolute index (`first` ... `first + len - 1`) that does not change when
    older items are dropped, so a cursor can stay on the same item.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: list[Any] = [None] * capacity
        self._start = 0
        self._len = 0
        self.appended = 0
        """Items ever appended (the absolute index of the next one)."""

    def __len__(self) -> int:
        return self._len

    @property
    def first(self) -> int:
        """Absolute index of the oldest item still held."""
        return self.appended - self._len

    def append(self, item: T) -> None:
        end = (self._start + self._len) % self.capacity
        self._items[end] = item
        if self._len == self.capacity:
            self._start = (self._start + 1) % self.capacity
        else:
            self._len += 1
        self.appended += 1

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def __getitem__(self, position: int) -> T:
        """The item at `position` counted from the oldest held (0) - not an absolute index."""
        if not 0 <= position < self._len:
            raise IndexError(position)
        return self._items[(self._start + position) % self.capacity]

    def __iter__(self) -> Iterator[T]:
        for position in range(self._len):
            yield self._items[(self._start + position) % self.capacity]

    def clear(self) -> None:
        """Forget every item; absolute indexes keep counting."""
        self._items = [None] * self.capacity
        self._start = 0
        self._len = 0


class Window(Generic[T]):
    """Some rows of a list held elsewhere (the ingest side), read like a `Ring`: the list's
    absolute numbering (`first`, `appended`), and the rows fetched from `start` on. A row not
    fetched reads as None."""

    def __init__(self, first: int, appended: int, start: int, rows: list[T]) -> None:
        self.first = first
        self.appended = appended
        self.start = start
        self.rows = rows

    def __len__(self) -> int:
        return self.appended - self.first

    def __getitem__(self, position: int) -> T | None:
        """The row at `position` counted from the oldest held (0), if it was fetched."""
        index = self.first + position - self.start
        return self.rows[index] if 0 <= index < len(self.rows) else None


class RingLog(ScrollView, Generic[T], can_focus=True):
    """Shows the items of a `Ring`, one line each, following the newest unless told not to.

    Moving the cursor or scrolling up stops following (the view stays on what the user
    reads) and counts what arrived meanwhile; `end` follows again.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False, tooltip="select the line above (pauses)"),
        Binding("down", "cursor_down", "Down", show=False, tooltip="select the line below"),
        Binding("pageup", "page_up", "Page up", show=False, tooltip="a page up (pauses)"),
        Binding("pagedown", "page_down", "Page down", show=False, tooltip="a page down"),
        Binding("home", "first", "Oldest", show=False, tooltip="the oldest line held (pauses)"),
        Binding("end", "follow", "Follow", show=False, tooltip="follow new lines again"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {"ring-log--cursor"}

    DEFAULT_CSS = """
    RingLog {
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
        & > .ring-log--cursor { background: $block-cursor-blurred-background; }
        &:focus > .ring-log--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
    }
    """

    following: reactive[bool] = reactive(True, repaint=False)
    """True while the view sticks to the newest line (shown by the log's owner)."""
    missed: reactive[int] = reactive(0, repaint=False)
    """Items that arrived while not following (shown by the log's owner)."""

    @dataclass
    class WindowMoved(Message):
        """The rows the log needs changed (it scrolled, resized, paused or followed): fetch
        them and `show` them. `start` None means the newest `count`."""

        ring_log: RingLog[Any]
        start: int | None
        count: int
        selected: int | None

        @property
        def control(self) -> RingLog[Any]:
            return self.ring_log

    @dataclass
    class CursorMoved(Message):
        """The cursor is on a different item (sent at most once per frame)."""

        ring_log: RingLog[Any]
        item: Any | None

        @property
        def control(self) -> RingLog[Any]:
            return self.ring_log

    def __init__(
        self,
        format_line: Callable[[T], Text],
        capacity: int = 10_000,
        *,
        fetched: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.format_line = format_line
        self.ring: Ring[T] | Window[T] = Window(0, 0, 0, []) if fetched else Ring(capacity)
        """The items shown: held here (`extend`), or, `fetched`, held elsewhere and shown a
        window at a time (`show`, asked for with `WindowMoved`)."""
        self.cursor: int | None = None
        """Absolute index of the selected item, or None before anything arrived."""
        self._dirty = False
        self._view: tuple[int, int, int | None, int] | None = None
        """What the lines on screen show: first item, how many, cursor, width."""
        self._line_setup: tuple[int, int, Style, Style] = (0, 0, Style(), Style())
        self._reported_cursor: int | None = -1
        self._top_item = 0
        """Absolute index of the item on the top line while not following."""
        self._adjusting = False
        """True while the widget scrolls itself (which must not stop following)."""
        self._window_wanted: tuple[int | None, int, int | None] | None = None

    # --- feeding -----------------------------------------------------------------------------

    def extend(self, items: list[T]) -> None:
        """Add items; the screen catches up on the next frame."""
        if not items:
            return
        assert isinstance(self.ring, Ring), "rows fetched from elsewhere come through `show`"
        self.ring.extend(items)
        if not self.following:
            self.missed += len(items)
        if not self._dirty:
            self._dirty = True
            if self.is_mounted:
                frame_clock(self.app).request(self._repaint)

    def show(self, window: Window[T]) -> None:
        """Show rows fetched from a list held elsewhere; the screen catches up on the next
        frame. While not following, what the list grew by counts as missed."""
        grew = window.appended - self.ring.appended
        self.ring = window
        if not self.following and grew > 0:
            self.missed += grew
        self._view = None  # the same positions may hold other rows
        if not self._dirty:
            self._dirty = True
            if self.is_mounted:
                frame_clock(self.app).request(self._repaint)

    def restart(self) -> None:
        """The list was rebuilt elsewhere (a new filter, cleared): follow its newest rows."""
        self.cursor = None
        self.following = True
        self._mark_dirty()

    def replace(self, items: Iterable[T]) -> None:
        """Show exactly these items (e.g. after the filter changed) and follow the newest."""
        ring = self.ring
        assert isinstance(ring, Ring), "rows fetched from elsewhere are replaced there"
        ring.clear()
        ring.extend(items)
        self.cursor = None
        self.following = True
        self._mark_dirty()

    def clear(self) -> None:
        self.replace(())

    @property
    def up_to_date(self) -> bool:
        """True when the screen shows every item added so far."""
        return not self._dirty

    @property
    def selected(self) -> T | None:
        """The item under the cursor, if it is still held."""
        if self.cursor is None or not len(self.ring):
            return None
        position = self.cursor - self.ring.first
        if 0 <= position < len(self.ring):
            return self.ring[position]
        return None

    # --- painting ----------------------------------------------------------------------------

    def on_mount(self) -> None:
        super().on_mount()
        self._repaint()  # what arrived before

    def _mark_dirty(self) -> None:
        """Something other than new items changed: show it now, flood or not."""
        self._dirty = True
        self._view = None
        if self.is_mounted:
            self._repaint()

    def _repaint(self) -> None:
        """Size, scroll position, cursor, and a repaint of the lines on screen."""
        if not self._dirty or not self.is_attached:
            return
        self._dirty = False
        count = len(self.ring)
        size = Size(self.scrollable_content_region.width, count)
        if size != self.virtual_size:
            # A layout would only find the scrollbar changed; spare the screen the reflow.
            self.set_reactive(ScrollView.virtual_size, size)
            self._scroll_update(size)
        if self.following:
            if count:
                self.cursor = self.ring.appended - 1
            bottom = max(0, count - self.scrollable_content_region.height)
            self._set_scroll_quietly(bottom)
        else:
            # Keep the same item on the top line although older ones fell out of the ring.
            top = max(0, self._top_item - self.ring.first)
            self._set_scroll_quietly(top)
            if self.cursor is not None and self.cursor < self.ring.first:
                self.cursor = self.ring.first if count else None
        top = int(self.scroll_offset.y)
        shown = min(count - top, self.scrollable_content_region.height)
        view = (self.ring.first + top, shown, self.cursor, size.width)
        if view != self._view:  # paused under a flood, the same lines stay on screen
            self._view = view
            self.refresh()
        self._report_cursor()

    def _set_scroll_quietly(self, y: int) -> None:
        self._adjusting = True
        try:
            self.scroll_to(y=y, animate=False, immediate=True)
        finally:
            self._adjusting = False

    def _report_window(self) -> None:
        """Say which rows the next frames need, when that changed (only for `show`n rows)."""
        if isinstance(self.ring, Ring):
            return
        height = max(1, self.scrollable_content_region.height)
        if self.following:
            wanted = (None, 2 * height, None)  # a page more: `up` and page up find rows
        else:
            wanted = (max(0, self._top_item - height), 3 * height, self.cursor)
        if wanted != self._window_wanted:
            self._window_wanted = wanted
            self.post_message(self.WindowMoved(self, *wanted))

    def _report_cursor(self) -> None:
        self._report_window()
        if self.cursor != self._reported_cursor:
            self._reported_cursor = self.cursor
            self.post_message(self.CursorMoved(self, self.selected))

    def render_lines(self, crop: Region) -> list[Strip]:
        # What every line needs, once per pass rather than once per line.
        base = self.rich_style
        self._line_setup = (
            self.scrollable_content_region.width,
            int(self.scroll_offset.y),
            base,
            base + self.get_component_rich_style("ring-log--cursor"),
        )
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width, top, base, cursor = self._line_setup
        position = top + y
        item = self.ring[position] if 0 <= position < len(self.ring) else None
        if item is None:
            return Strip.blank(width, base)
        text = self.format_line(item)
        text.truncate(width, pad=True)  # exactly one line, `width` cells
        if self.ring.first + position == self.cursor:
            text.stylize(cursor)  # over the line's own colours
        else:
            text.stylize_before(base)  # under them
        return Strip(text.render(self.app.console, end=""), width)

    def on_resize(self, event: events.Resize) -> None:
        self._mark_dirty()

    # --- following and the cursor ------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        if self._adjusting:  # `_repaint` refreshes the lines if they changed
            if self.show_vertical_scrollbar:
                self.vertical_scrollbar.position = new_value
            return
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value and new_value < self.max_scroll_y:
            self._stop_following()
        self._top_item = self.ring.first + int(new_value)
        if not self.following and new_value > old_value and new_value >= self.max_scroll_y:
            self.follow()  # scrolled back to the bottom by hand
        else:
            self._report_window()

    def _stop_following(self) -> None:
        if self.following:
            self.following = False
            self.missed = 0
            self._top_item = self.ring.first + int(self.scroll_offset.y)
            self._report_window()

    def follow(self) -> None:
        """Stick to the newest line again."""
        self.following = True
        self.missed = 0
        self._mark_dirty()

    def pause(self) -> None:
        """Stop following: the view stays put while items keep arriving."""
        self._stop_following()

    def _move_cursor(self, delta: int) -> None:
        if not len(self.ring):
            return
        self._stop_following()
        last = self.ring.appended - 1
        current = self.cursor if self.cursor is not None else last
        self.cursor = min(last, max(self.ring.first, current + delta))
        position = self.cursor - self.ring.first
        height = self.scrollable_content_region.height
        top = int(self.scroll_offset.y)
        if position < top:
            self._set_scroll_quietly(position)
        elif position >= top + height:
            self._set_scroll_quietly(position - height + 1)
        self._top_item = self.ring.first + int(self.scroll_offset.y)
        self.refresh()
        self._report_cursor()

    def action_cursor_up(self) -> None:
        self._move_cursor(-1)

    def action_cursor_down(self) -> None:
        self._move_cursor(1)

    def action_page_up(self) -> None:
        self._move_cursor(-max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self._move_cursor(max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self._move_cursor(-len(self.ring))

    def action_follow(self) -> None:
        self.follow()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._stop_following()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        position = int(self.scroll_offset.y) + offset.y
        if 0 <= position < len(self.ring):
            self._stop_following()
            self.cursor = self.ring.first + position
            self.refresh()
            self._report_cursor()
