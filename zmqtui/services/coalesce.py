"""Per-path coalescing of file change events: the first at once, a burst as one trailing event.

watchdog reports about a hundred events for fifty writes to one file. Debouncing (wait for a
quiet spell, then publish) would delay every event; `Coalescer` throttles instead: the first
event of a quiet path goes out at once and opens a window; later events inside the window are
merged into one trailing event sent when the window closes, which opens the next window. A
steady stream of writes thus gives one event per window.

Merging keeps the latest event, except that a plain "modified" never hides a creation,
deletion or move before it in the same window: delete-then-recreate gives "created".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

WEAKEST = "modified"
"""The kind that says least: merged after a stronger one, the stronger one is kept."""

Emit = Callable[[str, str, dict[str, Any]], object]
"""Receives `(path, kind, details)` for every event that goes out."""


@dataclass(slots=True)
class _Window:
    timer: asyncio.TimerHandle
    pending: tuple[str, dict[str, Any]] | None = None
    """The merged event to send when the window closes, if anything arrived inside it."""


class Coalescer:
    """Throttles events per path: leading event at once, at most one trailing per window.

    Call `offer` from the event loop only; windows are timed with `loop.call_later`.
    A window of 0 (or less) sends every event as it comes.
    """

    def __init__(self, window_ms: float, emit: Emit) -> None:
        self._window_s = window_ms / 1000
        self._emit = emit
        self._windows: dict[str, _Window] = {}

    @property
    def open_windows(self) -> int:
        """Paths whose window is open: their next event waits for the window to close."""
        return len(self._windows)

    def offer(self, path: str, kind: str, details: dict[str, Any] | None = None) -> None:
        """Take one event: send it now if `path` is quiet, else merge it into the window."""
        details = details or {}
        if self._window_s <= 0:
            self._emit(path, kind, details)
            return
        window = self._windows.get(path)
        if window is not None:
            if kind != WEAKEST or window.pending is None or window.pending[0] == WEAKEST:
                window.pending = (kind, details)
            return
        self._open(path)
        self._emit(path, kind, details)

    def flush(self) -> None:
        """Send every merged event now and close all windows (used when shutting down)."""
        windows, self._windows = self._windows, {}
        for path, window in windows.items():
            window.timer.cancel()
            if window.pending is not None:
                self._emit(path, *window.pending)

    def _open(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        self._windows[path] = _Window(loop.call_later(self._window_s, self._close, path))

    def _close(self, path: str) -> None:
        window = self._windows.pop(path, None)
        if window is None or window.pending is None:
            return
        self._open(path)
        self._emit(path, *window.pending)
