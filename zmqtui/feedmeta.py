"""Lag and loss for any feed, from the fields its messages carry.

A decoded JSON or msgpack mapping may say when it was sent (a numeric `timestamp`, `ts` or
`time`: seconds, milliseconds, microseconds or nanoseconds since the epoch, told apart by
magnitude; or an ISO 8601 string) and its place in a sequence (`seq`). The send time gives a
lag; `GapTracker` turns sequence numbers into gaps per stream (a feed and topic). The field
names are settings. The book's change events keep their own tracker
(`zmqtui.services.subscriber.SequenceTracker`), with its notes about publishers.

Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from zmqtui.decoders import Decoded

DEFAULT_TIMESTAMP_FIELDS = ("timestamp", "ts", "time")
DEFAULT_SEQUENCE_FIELDS = ("seq",)

NS_PER_S = 1_000_000_000
EARLIEST_NS = 946_684_800 * NS_PER_S
"""2000-01-01: an earlier "timestamp" is a count or a duration, not a send time."""
LATEST_NS = 4_102_444_800 * NS_PER_S
"""2100-01-01."""
_UNITS = ((1e11, NS_PER_S), (1e14, 1_000_000), (1e17, 1_000), (1e20, 1))
"""(below this magnitude, ns per unit): seconds reach 1e11 in the year 5138, and each finer
unit is a thousand times larger for the same moment."""
_INT_UNITS = tuple((int(below), ns_per_unit) for below, ns_per_unit in _UNITS)
"""The same bounds as whole numbers (an int compares faster with an int than with a float)."""


@dataclass(frozen=True, slots=True)
class FieldNames:
    """Which fields of a message carry its send time and its sequence number, first found wins."""

    timestamp: tuple[str, ...] = DEFAULT_TIMESTAMP_FIELDS
    sequence: tuple[str, ...] = DEFAULT_SEQUENCE_FIELDS


DEFAULT_FIELDS = FieldNames()


@dataclass(frozen=True, slots=True)
class Meta:
    """What a message says about itself: when it was sent (ns since the epoch) and its place
    in its sequence; None where it does not say."""

    sent_ns: int | None = None
    seq: int | None = None

    def lag_ms(self, received_ns: int) -> float | None:
        """Receive time minus send time, in ms (negative when the clocks disagree)."""
        return None if self.sent_ns is None else (received_ns - self.sent_ns) / 1_000_000


NO_META = Meta()


def meta_of(value: Any, names: FieldNames = DEFAULT_FIELDS) -> Meta:
    """The send time and sequence number a decoded message carries at its top level."""
    if not isinstance(value, Mapping):
        return NO_META
    sent = next(
        (ns for name in names.timestamp if (ns := epoch_ns(value.get(name))) is not None), None
    )
    seq = next((n for name in names.sequence if (n := _whole(value.get(name))) is not None), None)
    return Meta(sent, seq) if sent is not None or seq is not None else NO_META


def meta_of_parts(parts: Sequence[Decoded], names: FieldNames = DEFAULT_FIELDS) -> Meta:
    """The meta of the first JSON or msgpack mapping among a message's decoded frames."""
    for part in parts:
        if part.decoder in ("json", "msgpack") and not part.failed:
            meta = meta_of(part.value, names)
            if meta is not NO_META:
                return meta
    return NO_META


_JSON_OBJECT = ord("{")
_MSGPACK_MAPS = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}
"""First bytes of a msgpack map: a fixmap, map 16, map 32."""


class MetaReader:
    """Reads the send time and sequence number of JSON and msgpack mapping frames without
    decoding the rest (msgspec skips every field it is not asked for): cheap enough for every
    message of a feed, where `meta_of_parts` needs the frames decoded whole."""

    def __init__(self, names: FieldNames = DEFAULT_FIELDS) -> None:
        wanted = list(dict.fromkeys((*names.timestamp, *names.sequence)))
        attribute = {name: f"f{index}" for index, name in enumerate(wanted)}
        fields = msgspec.defstruct(
            "MetaFields",
            [(attribute[name], Any, None) for name in wanted],
            rename={attribute[name]: name for name in wanted},
            gc=False,
        )
        self._json = msgspec.json.Decoder(fields).decode
        self._msgpack = msgspec.msgpack.Decoder(fields).decode
        self._timestamps = tuple(attribute[name] for name in names.timestamp)
        self._sequences = tuple(attribute[name] for name in names.sequence)
        self._names = tuple(name.encode() for name in wanted)
        """The fields' names as they appear in a JSON or msgpack frame that has them."""

    def read(self, frames: Sequence[bytes], start: int = 0) -> tuple[int | None, int | None] | None:
        """The send time (ns) and sequence number of the first of `frames` that carries either
        (None when none does); a tuple, as a `Meta` costs more than reading it. The payloads
        begin at `start` (after a single frame's topic word: copied only to be decoded). A
        frame that names none of the fields is not decoded at all."""
        for frame in frames:
            if len(frame) <= start:
                continue
            first = frame[start]
            if first == _JSON_OBJECT:
                decode = self._json
            elif first in _MSGPACK_MAPS:
                decode = self._msgpack
            else:
                continue
            for name in self._names:
                if frame.find(name, start) >= 0:
                    break
            else:
                continue
            try:
                values = decode(frame[start:] if start else frame)
            except msgspec.DecodeError:
                continue
            sent = seq = None
            for name in self._timestamps:
                value = getattr(values, name)
                if value is not None and (sent := epoch_ns(value)) is not None:
                    break
            for name in self._sequences:
                value = getattr(values, name)
                if value is not None and (seq := _whole(value)) is not None:
                    break
            if sent is not None or seq is not None:
                return sent, seq
        return None


def epoch_ns(value: Any) -> int | None:
    """A timestamp as ns since the epoch: a number in s, ms, µs or ns (told apart by its
    magnitude) or an ISO 8601 string; None for anything else or a moment outside 2000-2100."""
    if type(value) is int:  # the usual case, first: every message of a feed may ask
        magnitude = -value if value < 0 else value
        for below, ns_per_unit in _INT_UNITS:
            if magnitude < below:
                ns = value * ns_per_unit
                return ns if EARLIEST_NS <= ns < LATEST_NS else None
        return None
    if isinstance(value, str):
        return _iso_ns(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    for below, ns_per_unit in _UNITS:
        if abs(value) < below:
            # a float's last digits are noise at this magnitude: keep whole µs
            if isinstance(value, int):
                ns = value * ns_per_unit
            else:
                ns = round(value * ns_per_unit / 1_000) * 1_000
            return ns if EARLIEST_NS <= ns < LATEST_NS else None
    return None


def _iso_ns(text: str) -> int | None:
    if not 10 <= len(text) <= 40:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    try:
        ns = int(moment.timestamp() * 1_000_000) * 1_000
    except (OverflowError, OSError, ValueError):
        return None
    return ns if EARLIEST_NS <= ns < LATEST_NS else None


def _whole(value: Any) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class Gap:
    """What one sequence number revealed about its stream: messages missed before it
    (`expected..got-1`), or a restart when it went back (`got <= previous`)."""

    stream: Hashable
    previous: int
    got: int

    @property
    def restarted(self) -> bool:
        return self.got <= self.previous

    @property
    def missed(self) -> int:
        return 0 if self.restarted else self.got - self.previous - 1

    def note(self, name: str = "") -> str:
        """One line for a log or a status: `gap: missed 2 message(s) on md.AAPL (seq 4..5)`."""
        where = f" on {name}" if name else ""
        if self.restarted:
            return f"sequence restarted{where}: seq went back from {self.previous} to {self.got}"
        first, last = self.previous + 1, self.got - 1
        span = f"{first}" if first == last else f"{first}..{last}"
        return f"gap: missed {self.missed} message(s){where} (seq {span})"


class GapTracker:
    """Follows the sequence number of each stream (a feed and topic, or any key) and reports
    what a new one reveals. Bounded: it forgets the least recently seen streams past
    `max_streams`."""

    def __init__(self, max_streams: int = 100_000) -> None:
        self._last: dict[Hashable, int] = {}
        self._max_streams = max_streams
        self.missed: dict[Hashable, int] = {}
        """Messages missed so far, per stream that missed any."""

    def observe(self, stream: Hashable, seq: int) -> Gap | None:
        """The gap or restart `seq` reveals on `stream`, or None when it follows on."""
        previous = self._last.pop(stream, None)
        self._last[stream] = seq
        if previous is None:
            if len(self._last) > self._max_streams:
                del self._last[next(iter(self._last))]
            return None
        if seq == previous + 1:
            return None
        gap = Gap(stream, previous, seq)
        if gap.missed:
            self.missed[stream] = self.missed.get(stream, 0) + gap.missed
        return gap

    def total_missed(self) -> int:
        """Messages missed on every stream."""
        return sum(self.missed.values())
