"""Helpers for showing message feeds: payloads made safe, and rates measured."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from zmqtui.text import printable

MAX_SHOWN_CHARS = 200
"""How much of a frame a one-line view shows."""


def printable_frame(data: bytes, limit: int | None = MAX_SHOWN_CHARS) -> str:
    """A frame as one line of plain text: UTF-8 as is, other bytes and anything unprintable
    escaped (see `zmqtui.text.printable`).

    The result is meant for `rich.text.Text`, never for markup.
    """
    shown = data if limit is None else data[: limit * 4]
    text = printable(shown.decode("utf-8", "backslashreplace"), limit=limit)
    if limit is not None and len(shown) < len(data) and not text.endswith("…"):
        text += "…"
    return text


def printable_frames(frames: Sequence[bytes], limit: int | None = MAX_SHOWN_CHARS) -> str:
    """Several frames on one line, separated by │."""
    return " │ ".join(printable_frame(frame, limit) for frame in frames)


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
