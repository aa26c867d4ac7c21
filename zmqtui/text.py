"""Text from the wire made safe for a terminal; shared by the commands and the TUI.

Imports neither Textual nor Rich, so headless commands can use it.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

MULTI_LINE = "\n\t"
"""What `keep` holds for text shown over several lines: newlines and tabs."""

_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_KEPT_CATEGORIES = frozenset({"Zs", "Cf"})
"""Unprintable by `str.isprintable` but harmless and meaningful: spaces such as NBSP and format
characters such as the joiner inside emoji sequences (bidirectional controls excepted)."""


def printable(text: str, *, keep: str = "", limit: int | None = None) -> str:
    """`text` with whatever could disturb a terminal escaped the way Python writes it.

    Control characters (`\\x1b`, `\\n`), lone surrogates (an undecodable file name byte
    arrives as `\\udce9`), line separators and bidirectional overrides are escaped, except
    the characters in `keep` (e.g. `"\\n\\t"` for a multi-line view). With `limit`, the
    result is cut to that many characters and ends in `…`.
    """
    if limit is not None and len(text) > limit:
        text = text[: limit + 1]
    if not text.isprintable():
        text = "".join(c if c in keep or _harmless(c) else _escape(c) for c in text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return text


def printable_json(value: Any, *, indent: int | None = None) -> str:
    """`value` as JSON that is safe to print: readable non-ASCII text kept, and whatever
    `printable` escapes written as `\\uXXXX` escapes, so the output stays valid JSON whose
    strings read back as they came. Compact (no spaces) unless `indent` is given."""
    separators = (",", ":") if indent is None else (",", ": ")
    return printable_json_text(
        json.dumps(value, ensure_ascii=False, indent=indent, separators=separators)
    )


def printable_json_text(text: str) -> str:
    """JSON text, as `json.dumps(ensure_ascii=False)` or orjson writes it, made safe to print
    the way `printable_json` does (whatever `printable` escapes written as `\\uXXXX`)."""
    if text.isprintable():
        return text
    # outside its strings, JSON writers write only ASCII, and control characters only as the
    # newlines of an indent; inside them, they have escaped every C0 control already
    return "".join(c if c == "\n" or _harmless(c) else _json_escape(c) for c in text)


def _json_escape(char: str) -> str:
    return json.dumps(char, ensure_ascii=True)[1:-1]


def _harmless(char: str) -> bool:
    if char.isprintable():
        return True
    return unicodedata.category(char) in _KEPT_CATEGORIES and char not in _BIDI_CONTROLS


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")
