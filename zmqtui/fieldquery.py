"""Field queries over decoded JSON and msgpack messages, for the filter: `level=warn`,
`bid>100`, `user.id=42`, `msg~"disk (full|gone)"`.

A query is one or more terms separated by spaces, all of which must hold. A term is
`PATH OP VALUE`: PATH a dotted path into nested mappings and lists (`user.id`, `items.0.sku`; a
step over a list without an index looks into every item), OP one of `=` `!=` `>` `>=` `<` `<=`
`~` (regular expression search) `!~`, VALUE a number, `true`, `false`, `null` or text (quoted
when it holds spaces). Numbers compare as numbers, text as text. A missing field never matches,
except under `!=` and `!~`. `parse_query` says what is wrong with a query in a message fit to
show the user.

Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

import operator
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Operator = Literal["=", "!=", ">", ">=", "<", "<=", "~", "!~"]
_TERM = re.compile(r"(?P<path>[^=!<>~\s]+)(?P<op>==|!=|>=|<=|!~|=|>|<|~)(?P<value>.*)", re.S)
_LITERALS = {"true": True, "false": False, "null": None}
_NEGATED = frozenset({"!=", "!~"})
_MISSING = object()
_ORDER = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class QueryError(ValueError):
    """A query that cannot be read, with a message fit to show the user."""


@dataclass(frozen=True, slots=True)
class Term:
    """One condition: the value at `path` compared by `op` with `operand`."""

    path: tuple[str, ...]
    op: Operator
    text: str
    """The operand as written (quotes removed)."""
    operand: Any
    """The operand read as a number, bool or None where it is one, else the text."""
    pattern: re.Pattern[str] | None = None

    def holds(self, value: Any) -> bool:
        found = [
            item
            for found in values_at(value, self.path)
            for item in (found if isinstance(found, list | tuple) else (found,))
        ]  # a list at the end of the path holds when one of its items does
        if not found:
            return self.op in _NEGATED
        if self.op in _NEGATED:
            return not any(self._compare(v, "=" if self.op == "!=" else "~") for v in found)
        return any(self._compare(v, self.op) for v in found)

    def _compare(self, value: Any, op: str) -> bool:
        if op == "~":
            return _is_scalar(value) and self.pattern.search(_as_text(value)) is not None  # type: ignore[union-attr]
        if op == "=":
            if _is_number(value) and _is_number(self.operand):
                return value == self.operand
            if isinstance(value, str):
                return value == self.text
            return value is self.operand if value is None or isinstance(value, bool) else False
        if _is_number(value) and _is_number(self.operand):
            left, right = value, self.operand
        elif isinstance(value, str) and not _is_number(self.operand):
            left, right = value, self.text
        else:
            return False
        return _ORDER[op](left, right)


@dataclass(frozen=True, slots=True)
class FieldQuery:
    """Terms that must all hold; `text` is the query as the user wrote it."""

    text: str
    terms: tuple[Term, ...]

    def matches(self, value: Any) -> bool:
        """Whether a decoded value satisfies every term."""
        return all(term.holds(value) for term in self.terms)

    def matches_any(self, values: Iterable[Any]) -> bool:
        """Whether any of a message's decoded frames satisfies every term."""
        return any(self.matches(value) for value in values)


def looks_like_query(text: str) -> bool:
    """Whether the filter text is meant as a field query (its first word is `PATH OP ...`),
    rather than text or a `/regex/` to search for."""
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("/") and _TERM.match(stripped) is not None


def parse_query(text: str) -> FieldQuery:
    """The query in `text`, or `QueryError` saying what is wrong and where."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split, lexer.escape, lexer.commenters = True, "", ""  # keep regex backslashes
    try:
        words = list(lexer)
    except ValueError as exc:
        raise QueryError(f"cannot read the query: {exc}") from None
    if not words:
        raise QueryError("empty query: write FIELD=VALUE, e.g. level=warn or bid>100")
    return FieldQuery(text, tuple(_term(word) for word in words))


def _term(word: str) -> Term:
    match = _TERM.fullmatch(word)
    if match is None:
        raise QueryError(
            f"{word!r} is not FIELD OP VALUE (OP one of = != > >= < <= ~ !~), e.g. level=warn"
        )
    path = tuple(match["path"].split("."))
    if not all(path):
        raise QueryError(f"{match['path']!r}: empty step in a field path (write user.id)")
    op: Operator = "=" if match["op"] == "==" else match["op"]  # type: ignore[assignment]
    value = match["value"]
    if value == "" and op not in ("=", "!="):
        raise QueryError(f"{word!r}: nothing to compare with after {op}")
    pattern = None
    if op in ("~", "!~"):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise QueryError(f"{word!r}: bad regular expression: {exc}") from None
    return Term(path, op, value, _operand(value), pattern)


def _operand(text: str) -> Any:
    if text in _LITERALS:
        return _LITERALS[text]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if number == number and abs(number) != float("inf") else text


def values_at(value: Any, path: tuple[str, ...]) -> Iterator[Any]:
    """The values found at `path`: several where a step goes over a list without an index."""
    if not path:
        yield value
        return
    step, rest = path[0], path[1:]
    if isinstance(value, Mapping):
        found = value.get(step, _MISSING)
        if found is _MISSING and step.lstrip("-").isdigit():
            found = value.get(int(step), _MISSING)  # msgpack maps keyed by numbers
        if found is not _MISSING:
            yield from values_at(found, rest)
    elif isinstance(value, list | tuple):
        if step.lstrip("-").isdigit():
            index = int(step)
            if -len(value) <= index < len(value):
                yield from values_at(value[index], rest)
        else:
            for item in value:
                yield from values_at(item, path)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) or value is None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)
