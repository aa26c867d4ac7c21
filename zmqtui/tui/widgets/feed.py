"""Helpers for showing message feeds: payloads made safe, and rates measured."""

from __future__ import annotations

from collections import deque

from rich.style import Style
from rich.text import Text

from zmqtui.captures import Capture
from zmqtui.format import MAX_SHOWN_CHARS, printable_frame, printable_frames
from zmqtui.text import printable

__all__ = [
    "MAX_SHOWN_CHARS",
    "NARROW_ROWS",
    "RateMeter",
    "feed_label",
    "message_text",
    "printable_frame",
    "printable_frames",
]

NARROW_ROWS = 60
"""Columns under which a list's rows leave out their least needed columns (the detail, or
the pane maximised, shows them), so that a path or payload still shows."""


def feed_label(name: str, width: int) -> str:
    """A feed's name escaped, in at most `width` characters: an endpoint (a feed named after
    it) keeps its end, where two endpoints differ (`…:5556`), any other name its start."""
    name = printable(name)
    if len(name) <= width:
        return name
    return "…" + name[1 - width :] if "://" in name else name[: width - 1] + "…"


def message_text(capture: Capture, *, topic: Style | str, error: Style | str) -> Text:
    """A message that is not a change event, on one line: its topic and decoded payload (in
    `error` style when the decoder the user chose failed), or `✗ why` and its frames for one
    that claims to be a change event and is not. Already escaped, never markup."""
    if capture.error is not None:
        return Text.assemble((f"✗ {capture.error}: ", error), printable_frames(capture.frames))
    text = Text()
    if capture.topic is not None:
        text.append(capture.topic + " ", topic)
    text.append(capture.summary, error if capture.failed else "")
    return text


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
