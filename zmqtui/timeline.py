"""A time position in a recording: where an opened recording is, and where the user asks to go.

Headless and shared by both sides of `zmqtui --open`: the playback engine reports a `Position`,
the screen shows it (`describe`) and turns what the user types after `g` into a `Target`
(`parse_target`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Literal, NamedTuple

from zmqtui.format import clock_time

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000

MIN_SPEED = 1 / 16
MAX_SPEED = 256.0
"""Playing speeds go from a sixteenth of the recorded pace to 256 times it, by halving and
doubling."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where a playback is: `index` messages of `total` played, the last one received at
    `time_ns` (the recording's start before the first)."""

    index: int
    total: int
    time_ns: int
    start_ns: int
    speed: float = 1.0
    playing: bool = False
    going_to: int | None = None
    """The message a seek is taking the streams to, while it is under way."""

    @property
    def at_end(self) -> bool:
        return self.index >= self.total


def format_speed(speed: float) -> str:
    """`2x`, `0.5x`, `0.0625x`: a speed as a factor of the recorded pace."""
    return f"{speed:g}x"


def format_offset(ns: int) -> str:
    """Time since the recording's start: `+0:12.350`, `+1:02:03.000` (never negative)."""
    ms = max(0, ns) // NS_PER_MS
    seconds, millis = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"+{hours}:{minutes:02d}:{seconds:02d}.{millis:03d}"
    return f"+{minutes}:{seconds:02d}.{millis:03d}"


def state_text(position: Position) -> str:
    """playing, paused, at the end, or going to a message."""
    if position.going_to is not None:
        return f"going to {position.going_to:,}"
    if position.playing:
        return "playing"
    return "end" if position.at_end and position.total else "paused"


def describe(position: Position) -> str:
    """The position on one line: state, speed, time, offset and message number."""
    return (
        f"{'▶' if position.playing else '‖'} {state_text(position)} "
        f"{format_speed(position.speed)} │ {clock_time(position.time_ns // NS_PER_MS)} "
        f"{format_offset(position.time_ns - position.start_ns)} │ "
        f"message {position.index:,} of {position.total:,}"
    )


class Target(NamedTuple):
    """Where to go: a receive time (ns since the epoch) or a message number."""

    kind: Literal["time", "message"]
    value: int


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(h|ms|m|s))", re.IGNORECASE)
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?")
_UNIT_NS = {"h": 3600 * NS_PER_S, "m": 60 * NS_PER_S, "s": NS_PER_S, "ms": NS_PER_MS}

TARGET_HELP = "a time (12:01:05, 12:01:05.250), an offset from the start (+30s, +1m30s) or #N"


def parse_target(text: str, start_ns: int) -> Target:
    """What the user typed after `g`: `HH:MM[:SS[.fff]]` (local time, on the recording's first
    day, or the next day when it is before the start), `+DURATION` from the recording's start
    (`+30s`, `+1m30s`, `+250ms`, `+1.5h`), or `#N` (message N). ValueError says what is wrong."""
    text = text.strip()
    if text.startswith("#"):
        if not text[1:].isdigit():
            raise ValueError(f"a message number is #N: {text!r}")
        return Target("message", int(text[1:]))
    if text.startswith("+"):
        return Target("time", start_ns + _duration_ns(text[1:]))
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ValueError(f"not a time: {text!r}; give {TARGET_HELP}")
    return Target("time", _clock_ns(match, start_ns))


def _duration_ns(text: str) -> int:
    parts = _DURATION.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not an offset: +{text!r}; e.g. +30s, +1m30s, +250ms")
    return round(sum(float(number) * _UNIT_NS[unit.lower()] for number, unit in parts))


def _clock_ns(match: re.Match[str], start_ns: int) -> int:
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"not a time of day: {match[0]!r}")
    fraction = int((match[4] or "0").ljust(9, "0"))
    day = time.localtime(start_ns // NS_PER_S)
    midnight = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))
    moment = (int(midnight) + hours * 3600 + minutes * 60 + seconds) * NS_PER_S + fraction
    if moment + NS_PER_S <= start_ns:  # earlier than the start: the next day's
        moment += 24 * 3600 * NS_PER_S
    return moment
