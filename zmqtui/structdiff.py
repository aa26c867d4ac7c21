"""What changed between two decoded values (JSON, msgpack): fields changed, added, removed.

`structural_diff(a, b)` walks mappings by key and lists by position, and gives one `Change`
per leaf that differs, with its path (`.user.id`, `.items[2]`, jq's notation). The monitor's
diff view colours them by kind; `zmqtui diff` describes the first. Headless.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from zmqtui.text import printable

ChangeKind = Literal["changed", "added", "removed"]

MISSING: Any = object()
"""The side of a `Change` that has no value: `old` of an added field, `new` of a removed one."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class Change:
    """One field that differs between `a` (old) and `b` (new)."""

    kind: ChangeKind
    path: tuple[Any, ...]
    """Mapping keys (strings, or what else msgpack allows) and list indices, from the top."""
    old: Any = MISSING
    new: Any = MISSING

    def describe(self, limit: int = 40) -> str:
        """`changed .price: 1.5 → 1.6`, `added .note: "x"`, `removed .seq: 5` (escaped)."""
        where = format_path(self.path)
        if self.kind == "changed":
            text = f"{where}: {short_value(self.old, limit)} → {short_value(self.new, limit)}"
        elif self.kind == "added":
            text = f"{where}: {short_value(self.new, limit)}"
        else:
            text = f"{where}: {short_value(self.old, limit)}"
        return f"{self.kind} {text}"


def structural_diff(a: Any, b: Any) -> list[Change]:
    """Every leaf that differs from `a` to `b`, in the order of `a` (then what `b` adds).

    Values of different types differ (`1` and `1.0`, `1` and `true`); NaN equals NaN.
    """
    changes: list[Change] = []
    _walk(a, b, (), changes)
    return changes


def _walk(a: Any, b: Any, path: tuple[Any, ...], out: list[Change]) -> None:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key, value in a.items():
            if key in b:
                _walk(value, b[key], (*path, key), out)
            else:
                out.append(Change("removed", (*path, key), old=value))
        out.extend(Change("added", (*path, k), new=v) for k, v in b.items() if k not in a)
    elif isinstance(a, list) and isinstance(b, list):
        for index, (old, new) in enumerate(zip(a, b, strict=False)):
            _walk(old, new, (*path, index), out)
        out.extend(Change("removed", (*path, i), old=v) for i, v in enumerate(a) if i >= len(b))
        out.extend(Change("added", (*path, i), new=v) for i, v in enumerate(b) if i >= len(a))
    elif not _same(a, b):
        out.append(Change("changed", path, old=a, new=b))


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def format_path(path: tuple[Any, ...]) -> str:
    """A path in jq's notation: `.` (the whole value), `.user.id`, `.items[2]`, `.[0]`,
    `.["a b"]`."""
    if not path:
        return "."
    parts: list[str] = []
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            parts.append(f"[{part}]")
        elif isinstance(part, str) and _NAME.match(part):
            parts.append(f".{part}")
        elif isinstance(part, str):
            parts.append(f".[{orjson.dumps(part).decode()}]")
        else:
            parts.append(f".[{short_value(part, 20)}]")
    text = "".join(parts)
    return printable(text if text.startswith(".") else f".{text}")


def short_value(value: Any, limit: int = 40) -> str:
    """A value as compact JSON (or its repr when JSON cannot hold it), cut to `limit`."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = repr(value)
    return printable(text, limit=limit)
