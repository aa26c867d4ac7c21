"""How numbers, sizes, durations, times and frames are written, the same in the commands and
the TUI.

Headless: imports neither Textual nor Rich. Text from the wire is escaped by `zmqtui.text`;
`printable` is re-exported here so a caller formatting a line needs one import.
"""

from __future__ import annotations

import time
from datetime import datetime

from zmqtui.text import printable

__all__ = [
    "MAX_SHOWN_CHARS",
    "NO_VALUE",
    "clock_time",
    "date_time",
    "format_bytes",
    "format_duration",
    "format_rate",
    "js_date",
    "plural",
    "printable",
    "printable_frame",
    "printable_frames",
]

NO_VALUE = "—"
"""What a cell or a rate shows when its value is not known yet."""


def plural(count: int, word: str, words: str | None = None) -> str:
    """`count` and the word that goes with it: `1 try`, `3 tries`, `1,024 messages`.

    `words` is the plural when it is not `word` + "s".
    """
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def format_duration(seconds: float | None) -> str:
    """A duration the way htop shows uptimes, in at most 6 cells: 42s, 3m05s, 2h07m, 4d03h;
    `—` when unknown or negative (clocks that disagree)."""
    if seconds is None or seconds < 0:
        return NO_VALUE
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def format_bytes(size: float | None) -> str:
    """A byte count in binary units, in at most 6 cells: 512B, 12.3K, 118M, 1.2G; `—` when
    unknown."""
    if size is None:
        return NO_VALUE
    unit = "B"
    for bigger in "KMGT":
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    if unit == "B":
        return f"{size:.0f}B"
    return f"{size:.1f}{unit}" if size < 100 else f"{size:.0f}{unit}"


def format_rate(rate: float | None, unit: str = "/s") -> str:
    """A rate then `unit`: `12.3`, `999.9`, `1.2k`, `123k` (five characters at most below a
    million a second), or `—` when unknown.

    The feeds say `12.3/s`; a column already headed req/s passes `unit=""`.
    """
    if rate is None:
        return f"{NO_VALUE}{unit}"
    if rate < 999.95:
        return f"{rate:.1f}{unit}"
    if rate < 9_950:
        return f"{rate / 1000:.1f}k{unit}"
    return f"{rate / 1000:.0f}k{unit}"


def clock_time(ms: int) -> str:
    """Local wall-clock time of a millisecond timestamp: `HH:MM:SS.mmm` (for lists)."""
    seconds, millis = divmod(int(ms), 1000)
    try:
        return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{millis:03d}"
    except (OverflowError, OSError, ValueError):
        return "??:??:??.???"


def date_time(ms: int) -> str:
    """Local date and time of a millisecond timestamp, to the millisecond (for CLI output);
    a timestamp no clock can show is written as the number it is."""
    try:
        moment = datetime.fromtimestamp(ms / 1000)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return moment.isoformat(sep=" ", timespec="milliseconds")


def js_date(ms: int) -> str:
    """Local time like JavaScript's `new Date(ms).toString()`, with the short zone name: the
    book's scripts print it, and `zmqtui subscribe` prints the same lines."""
    try:
        local = datetime.fromtimestamp(ms / 1000).astimezone()
    except (OverflowError, ValueError, OSError):
        return f"{ms} ms after the epoch"
    return local.strftime("%a %b %d %Y %H:%M:%S GMT%z (%Z)")


MAX_SHOWN_CHARS = 200
"""How much of a frame a one-line view shows."""


def printable_frame(data: bytes, limit: int | None = MAX_SHOWN_CHARS) -> str:
    """A frame as one line of plain text: UTF-8 as is, other bytes and anything unprintable
    escaped (see `zmqtui.text.printable`). Meant for `rich.text.Text`, never for markup."""
    shown = data if limit is None else data[: limit * 4]
    text = printable(shown.decode("utf-8", "backslashreplace"), limit=limit)
    if limit is not None and len(shown) < len(data) and not text.endswith("…"):
        text += "…"
    return text


def printable_frames(
    frames: tuple[bytes, ...] | list[bytes], limit: int | None = MAX_SHOWN_CHARS
) -> str:
    """Several frames on one line, separated by │."""
    return " │ ".join(printable_frame(frame, limit) for frame in frames)
