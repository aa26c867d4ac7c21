"""Helpers for showing message feeds: payloads made safe, and rates measured."""

from __future__ import annotations

from collections import deque

from zmqtui.format import MAX_SHOWN_CHARS, printable_frame, printable_frames

__all__ = [
    "MAX_SHOWN_CHARS",
    "RateMeter",
    "printable_frame",
    "printable_frames",
]


class RateMeter:
    """Messages per second over the last `window_s` seconds, from (time, total) samples."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def observe(self, now: float, total: int) -> None:
        """Record that `total` messages had arrived by `now` (seconds)."""
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()

    @property
    def rate(self) -> float | None:
        """The recent rate, or None until two samples some time apart exist."""
        if len(self._samples) < 2:
            return None
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        if t1 - t0 <= 0:
            return None
        return (n1 - n0) / (t1 - t0)
