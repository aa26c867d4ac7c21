"""One frame clock per app: widgets fed by a flood repaint together, at a bounded rate.

Every repaint is a pass of Textual's compositor over the screen, and most of what a monitor
under a flood spends. With a timer per widget, two logs and two counter lines cost four passes
per tick, each at its own moment; here they ask the app's clock for their next frame and all
repaint in the same one: within 1/`FPS` s while things are calm, at most `FLOOD_FPS` times a
second while a tick keeps finding work (a flood scrolls by too fast to read anyway, and the
time it saves goes to the keys). What the user did (a key, a resize) is not a flood: widgets
show it at once and the screen's next refresh carries it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from weakref import WeakKeyDictionary

from textual.app import App
from textual.timer import Timer

FPS = 30
"""Most frames per second: enough to look live."""

FLOOD_FPS = 10
"""Most frames per second while new items keep arriving."""

Paint = Callable[[], None]


class FrameClock:
    """Calls each waiting `paint` once on the next frame, then sleeps until asked again."""

    def __init__(self, app: App) -> None:
        self._waiting: dict[Paint, None] = {}
        """Paint callbacks for the next frame, each once, in the order asked."""
        self._painted_at = 0.0
        self._timer: Timer = app.set_interval(1 / FPS, self._tick, name="frame clock", pause=True)

    def request(self, paint: Paint) -> None:
        """Have `paint` called on the next frame."""
        self._waiting[paint] = None
        self._timer.resume()

    def _tick(self) -> None:
        if not self._waiting:
            self._timer.pause()
            return
        now = time.monotonic()
        if now - self._painted_at < 1 / FLOOD_FPS:
            return  # the last frame was a tick ago and there is work again: a flood
        self._painted_at = now
        waiting, self._waiting = self._waiting, {}
        for paint in waiting:
            paint()


_clocks: WeakKeyDictionary[App, FrameClock] = WeakKeyDictionary()


def frame_clock(app: App) -> FrameClock:
    """The app's frame clock (made on first use)."""
    clock = _clocks.get(app)
    if clock is None:
        clock = _clocks[app] = FrameClock(app)
    return clock
