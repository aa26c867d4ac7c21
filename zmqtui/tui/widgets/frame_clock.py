"""One frame clock per app: widgets fed by a flood repaint together, at a bounded rate.

Every repaint is a pass of Textual's compositor over the screen, and most of what a monitor
under a flood spends. With a timer per widget, two logs and two counter lines cost four passes
per tick, each at its own moment; here they ask the app's clock for their next frame and all
repaint in the same one: at most `FRAMES_PER_S` times a second (a flood scrolls by too fast to
read anyway, and the time it saves goes to the keys), and within 1/`TICKS_PER_S` s of a
change after a quiet spell. What the user did (a key, a resize) is not a flood: widgets show
it at once and the screen's next refresh carries it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from weakref import WeakKeyDictionary

from textual.app import App
from textual.css.query import NoMatches
from textual.timer import Timer

TICKS_PER_S = 30
"""How often a clock with work waiting looks whether a frame is due."""

FRAMES_PER_S = 10
"""Most frames per second: enough to look live while items keep arriving."""

Paint = Callable[[], None]


class FrameClock:
    """Calls each waiting `paint` once on the next frame, then sleeps until asked again."""

    def __init__(self, app: App) -> None:
        self._waiting: dict[Paint, None] = {}
        """Paint callbacks for the next frame, each once, in the order asked."""
        self._painted_at = 0.0
        self._timer: Timer = app.set_interval(
            1 / TICKS_PER_S, self._tick, name="frame clock", pause=True
        )

    def request(self, paint: Paint) -> None:
        """Have `paint` called on the next frame."""
        self._waiting[paint] = None
        self._timer.resume()

    def _tick(self) -> None:
        if not self._waiting:
            self._timer.pause()
            return
        now = time.monotonic()
        if now - self._painted_at < 1 / FRAMES_PER_S:
            return  # the last frame was just now and there is work again
        self._painted_at = now
        waiting, self._waiting = self._waiting, {}
        for paint in waiting:
            # what a paint shows may have been taken down after it asked (a closing app)
            with contextlib.suppress(NoMatches):
                paint()


_clocks: WeakKeyDictionary[App, FrameClock] = WeakKeyDictionary()


def frame_clock(app: App) -> FrameClock:
    """The app's frame clock (made on first use)."""
    clock = _clocks.get(app)
    if clock is None:
        clock = _clocks[app] = FrameClock(app)
    return clock
