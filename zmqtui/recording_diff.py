"""Two recordings compared topic by topic: counts, rates and the first message that differs.

Two recordings are equal when every topic holds the same messages (frames byte for byte) in
the same order; timing is compared (rates) but never makes them differ, as no two runs have
the same. A topic is read from each message by its feed's topic rule (`zmqtui.topics`).
Feeds are matched by name; when each recording has a single feed, they are matched whatever
their names (two runs against different ports).

Streaming: a first pass keeps a 64-bit hash per message, a second one fetches only the
messages that differ, so recordings larger than memory compare. Headless.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field

from zmqtui.decoders import decode_frame, plain
from zmqtui.message_diff import STRUCTURED, describe_bytes
from zmqtui.recording import Header, RecordingReader
from zmqtui.structdiff import structural_diff
from zmqtui.text import printable
from zmqtui.topics import topic_of

TopicKey = tuple[str, bytes | None]
"""(feed, topic): the feed is "" when each recording has a single feed."""


@dataclass(slots=True)
class _Side:
    """What the first pass keeps of one recording."""

    header: Header
    hashes: dict[TopicKey, array] = field(default_factory=dict)
    first_ns: int | None = None
    """The earliest receive time (a recording of several feeds may not be in order)."""
    last_ns: int | None = None
    messages: int = 0

    @property
    def span_s(self) -> float:
        if self.first_ns is None or self.last_ns is None:
            return 0.0
        return (self.last_ns - self.first_ns) / 1e9


@dataclass(frozen=True, slots=True)
class TopicCounts:
    """One topic in one recording: messages, and their rate over the recording's span."""

    count: int
    rate: float | None


@dataclass(frozen=True, slots=True)
class TopicDiff:
    """One topic in both recordings, with where they part (None: equal)."""

    feed: str
    topic: bytes | None
    a: TopicCounts
    b: TopicCounts
    index: int | None = None
    """The index within the topic (from 0) of the first message that differs."""
    difference: str | None = None
    """What differs there, in a line (escaped)."""

    @property
    def equal(self) -> bool:
        return self.index is None

    @property
    def topic_text(self) -> str:
        """The topic escaped for a terminal, `(no topic)` when it has none."""
        if self.topic is None:
            return "(no topic)"
        return printable(self.topic.decode("utf-8", "backslashreplace"))


@dataclass(frozen=True, slots=True)
class RecordingSummary:
    path: str
    messages: int
    span_s: float
    """From its earliest message to its latest."""


@dataclass(frozen=True, slots=True)
class RecordingDiff:
    """Two recordings compared: each as a whole, and topic by topic."""

    a: RecordingSummary
    b: RecordingSummary
    topics: tuple[TopicDiff, ...]

    @property
    def equal(self) -> bool:
        return all(topic.equal for topic in self.topics)


def compare_recordings(
    path_a: str | os.PathLike[str], path_b: str | os.PathLike[str]
) -> RecordingDiff:
    """Compare two recordings; `RecordingError` when either is not one (or has a bad line)."""
    with RecordingReader(path_a) as reader_a, RecordingReader(path_b) as reader_b:
        merged = len(reader_a.header.feeds) == 1 and len(reader_b.header.feeds) == 1
    side_a = _hash_pass(path_a, merged)
    side_b = _hash_pass(path_b, merged)
    keys = sorted(side_a.hashes.keys() | side_b.hashes.keys(), key=_sort_key)
    empty = array("q")
    parted: dict[TopicKey, int] = {}
    for key in keys:
        index = _first_difference(side_a.hashes.get(key, empty), side_b.hashes.get(key, empty))
        if index is not None:
            parted[key] = index
    found_a = _fetch(path_a, merged, parted)
    found_b = _fetch(path_b, merged, parted)
    topics = []
    for key in keys:
        index = parted.get(key)
        difference = None
        if index is not None:
            difference = describe_difference(found_a.get(key), found_b.get(key))
        topics.append(
            TopicDiff(
                key[0],
                key[1],
                _counts(side_a, key),
                _counts(side_b, key),
                index,
                difference,
            )
        )
    return RecordingDiff(
        RecordingSummary(os.fspath(path_a), side_a.messages, side_a.span_s),
        RecordingSummary(os.fspath(path_b), side_b.messages, side_b.span_s),
        tuple(topics),
    )


def _sort_key(key: TopicKey) -> tuple[str, bool, bytes]:
    return key[0], key[1] is not None, key[1] or b""


def _keyed(
    path: str | os.PathLike[str], merged: bool
) -> Iterator[tuple[TopicKey, int, tuple[bytes, ...]]]:
    with RecordingReader(path) as reader:
        rules = {feed.name: feed.topic_rule for feed in reader.header.feeds}
        for received_ns, feed, frames in reader:
            topic = topic_of(frames, rules.get(feed, "auto"))
            yield ("" if merged else feed, topic), received_ns, frames


def _hash_pass(path: str | os.PathLike[str], merged: bool) -> _Side:
    with RecordingReader(path) as reader:
        side = _Side(reader.header)
    hashes = side.hashes
    for key, received_ns, frames in _keyed(path, merged):
        if side.first_ns is None or received_ns < side.first_ns:
            side.first_ns = received_ns
        if side.last_ns is None or received_ns > side.last_ns:
            side.last_ns = received_ns
        side.messages += 1
        found = hashes.get(key)
        if found is None:
            found = hashes[key] = array("q")
        found.append(hash(frames))
    return side


def _first_difference(a: array, b: array) -> int | None:
    if a == b:
        return None
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def _fetch(
    path: str | os.PathLike[str], merged: bool, wanted: dict[TopicKey, int]
) -> dict[TopicKey, tuple[bytes, ...]]:
    """The messages at `wanted` indices of their topics (absent where the topic is shorter)."""
    found: dict[TopicKey, tuple[bytes, ...]] = {}
    if not wanted:
        return found
    seen: dict[TopicKey, int] = {}
    for key, _, frames in _keyed(path, merged):
        index = wanted.get(key)
        if index is None:
            continue
        position = seen.get(key, 0)
        seen[key] = position + 1
        if position == index:
            found[key] = frames
            if len(found) == len(wanted):
                break
    return found


def _counts(side: _Side, key: TopicKey) -> TopicCounts:
    count = len(side.hashes.get(key, ()))
    span = side.span_s
    return TopicCounts(count, count / span if span > 0 else None)


def describe_difference(a: tuple[bytes, ...] | None, b: tuple[bytes, ...] | None) -> str:
    """What differs between two messages, in a line: a missing one, the number of frames, the
    first frame that differs (the first field that differs for JSON and msgpack)."""
    if a is None or b is None:
        return "only in B" if a is None else "only in A"
    if len(a) != len(b):
        return f"{len(a)} frames in A, {len(b)} in B"
    index = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    return f"frame {index}: {describe_frames(a[index], b[index])}"


def describe_frames(a: bytes, b: bytes) -> str:
    """How frame `a` differs from frame `b`: by field when both decode to structured values,
    by character for text, by byte otherwise."""
    decoded_a, decoded_b = decode_frame(a), decode_frame(b)
    if decoded_a.decoder == decoded_b.decoder and decoded_a.decoder in STRUCTURED:
        changes = structural_diff(plain(decoded_a.value), plain(decoded_b.value))
        if changes:
            more = f" (+{len(changes) - 1} more)" if len(changes) > 1 else ""
            return f"{decoded_a.decoder} {changes[0].describe()}{more}"
    return describe_bytes(a, b)
