"""What differs between two messages, frame by frame: the monitor's mark-and-compare view.

Frames that both decode to structured values (JSON, msgpack) are compared field by field
(`zmqtui.structdiff`: changed, added and removed fields, paths in jq's notation); text frames
line by line; any other frames by their first differing byte. Every line is escaped text, fit
for a terminal. Headless.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from zmqtui.decoders import decode_frame, plain
from zmqtui.format import plural, printable_frame
from zmqtui.structdiff import structural_diff

DiffKind = Literal["changed", "added", "removed", "same", "note"]

STRUCTURED = frozenset({"json", "msgpack"})
"""Decoders whose values are compared field by field."""

MAX_STRUCTURED_BYTES = 1 << 20
"""Larger frames are compared by their bytes only: decoding them would stall the screen."""

MAX_LINES = 200
"""The most lines a comparison gives (the rest is counted in a last line)."""

LINE_CHARS = 60
"""How much of a value or a line of text a change shows."""


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a comparison: its kind (how it is coloured) and its text (escaped)."""

    kind: DiffKind
    text: str


@dataclass(frozen=True, slots=True)
class MessageDiff:
    """Message `b` against message `a`: lines, and how many fields or lines of each kind."""

    lines: tuple[DiffLine, ...]
    changed: int = 0
    added: int = 0
    removed: int = 0

    @property
    def equal(self) -> bool:
        return not (self.changed or self.added or self.removed)

    def summary(self) -> str:
        if self.equal:
            return "the same frames"
        return f"{self.changed:,} changed, {self.added:,} added, {self.removed:,} removed"


def compare_messages(
    a: Sequence[bytes], b: Sequence[bytes], *, max_lines: int = MAX_LINES
) -> MessageDiff:
    """How message `b` differs from message `a`, frame by frame (a frame only one has is
    added or removed as a whole)."""
    lines: list[DiffLine] = []
    for index in range(max(len(a), len(b))):
        if index >= len(a):
            lines.append(DiffLine("added", f"frame {index}: {_whole(b[index])}"))
        elif index >= len(b):
            lines.append(DiffLine("removed", f"frame {index}: {_whole(a[index])}"))
        elif a[index] == b[index]:
            lines.append(DiffLine("same", f"frame {index}: the same ({_size(a[index])})"))
        else:
            lines.extend(_frame_lines(index, a[index], b[index]))
    counts = {kind: sum(1 for line in lines if line.kind == kind) for kind in _COUNTED}
    if len(lines) > max_lines:
        more = len(lines) - max_lines + 1
        lines[max_lines - 1 :] = [DiffLine("note", f"… and {plural(more, 'more line')}")]
    return MessageDiff(tuple(lines), **counts)


_COUNTED = ("changed", "added", "removed")


def _frame_lines(index: int, a: bytes, b: bytes) -> list[DiffLine]:
    if max(len(a), len(b)) <= MAX_STRUCTURED_BYTES:
        decoded_a, decoded_b = decode_frame(a), decode_frame(b)
        decoder = decoded_a.decoder
        if decoder == decoded_b.decoder and decoder in STRUCTURED:
            changes = structural_diff(plain(decoded_a.value), plain(decoded_b.value))
            title = DiffLine("note", f"frame {index} · {decoder}")
            if not changes:
                same = "the same fields, written differently (order, spacing or number forms)"
                return [title, DiffLine("note", same)]
            return [title, *(DiffLine(c.kind, c.describe(LINE_CHARS)) for c in changes)]
        if decoder == decoded_b.decoder == "text":
            return [DiffLine("note", f"frame {index} · text"), *_text_lines(a, b)]
    return [DiffLine("changed", f"frame {index} · bytes: {describe_bytes(a, b)}")]


def _text_lines(a: bytes, b: bytes) -> list[DiffLine]:
    """The lines of `a` that `b` replaces or drops (removed), those it has instead (added)."""
    old = a.decode("utf-8", "replace").splitlines()
    new = b.decode("utf-8", "replace").splitlines()
    lines: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag == "equal":
            continue
        lines.extend(DiffLine("removed", "- " + _line(text)) for text in old[a_start:a_end])
        lines.extend(DiffLine("added", "+ " + _line(text)) for text in new[b_start:b_end])
    if not lines:  # only the line endings differ
        lines.append(DiffLine("changed", f"line endings: {describe_bytes(a, b)}"))
    return lines


def _line(text: str) -> str:
    return printable_frame(text.encode(), LINE_CHARS)


def _whole(frame: bytes) -> str:
    return f"{printable_frame(frame, LINE_CHARS)} ({_size(frame)})"


def _size(frame: bytes) -> str:
    return plural(len(frame), "byte")


def describe_bytes(a: bytes, b: bytes) -> str:
    """Where frame `b` first differs from frame `a`, with a few bytes around it."""
    shorter = min(len(a), len(b))
    at = next((i for i in range(shorter) if a[i] != b[i]), shorter)
    if at == shorter:
        return f"{len(a):,} bytes in A, {len(b):,} in B, the same up to there"
    return f"byte {at:,} differs: {_around(a, at)} in A, {_around(b, at)} in B"


def _around(frame: bytes, at: int, width: int = 12) -> str:
    """A few bytes around `at`, as Python writes a bytes literal."""
    start = max(0, at - width // 2)
    text = repr(frame[start : start + width])
    return ("…" if start else "") + text + ("…" if start + width < len(frame) else "")
