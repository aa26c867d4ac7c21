"""The filter for any feed's messages: text, a `/regex/`, or a field query.

- plain text: a case-insensitive search of the topic and the decoded payload as shown;
- `/regex/`: a regular expression search of the same;
- a field query (`level=warn bid>100`, see `zmqtui.fieldquery`) over the JSON, msgpack and
  protobuf frames; the pseudo-fields `@feed` and `@topic` select feeds and topics
  (`@feed=market`, `@topic~^md\\.`), `@notopic=true` the messages without a topic.

`parse_filter` raises `FilterError` with a message fit to show (in red) for a query or
expression that cannot be read, so the caller keeps the filter it had.

Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

import re
from typing import Literal

from zmqtui.decoders import DecodedMessage
from zmqtui.decoders.message import topic_text
from zmqtui.fieldquery import FieldQuery, QueryError, looks_like_query, parse_query
from zmqtui.format import MAX_SHOWN_CHARS
from zmqtui.text import printable

FilterKind = Literal["none", "text", "regex", "query"]
META_PREFIX = "@"
"""Field paths starting with it name the message's feed (`@feed`) or topic (`@topic`; a message
without one has none, and `@notopic` true)."""
META_FIELDS = ("@feed", "@topic", "@notopic")
QUERIED_FRAME_BYTES = 256 * 1024
"""A payload frame larger than this is not looked into by a field query (not decoded for it)."""


class FilterError(ValueError):
    """A filter that cannot be read, with a message fit to show the user."""


class FeedFilter:
    """A parsed filter; `matches` says whether a message passes it."""

    def __init__(
        self,
        expression: str,
        kind: FilterKind,
        pattern: re.Pattern[str] | None = None,
        query: FieldQuery | None = None,
    ) -> None:
        self.expression = expression
        self.kind = kind
        self._pattern = pattern
        self._text = expression.casefold() if kind == "text" else ""
        terms = query.terms if query is not None else ()
        self._meta = [t for t in terms if t.path[0].startswith(META_PREFIX)]
        self._payload = [t for t in terms if not t.path[0].startswith(META_PREFIX)]

    @property
    def active(self) -> bool:
        return self.kind != "none"

    @property
    def reads_payload(self) -> bool:
        """A field query with a term on the payload (not only `@feed` and `@topic`)."""
        return bool(self._payload)

    def matches(self, feed: str, message: DecodedMessage) -> bool:
        """Whether the message of `feed` passes."""
        if self.kind == "query":
            return self._query_matches(feed, message)
        return self.matches_text(searchable_text(message))

    def matches_text(self, haystack: str) -> bool:
        """Whether text or a regex finds itself in `haystack` (a query's terms never do)."""
        if self.kind == "none":
            return True
        if self._pattern is not None:
            return self._pattern.search(haystack) is not None
        return self.kind == "text" and self._text in haystack.casefold()

    def matches_meta(self, feed: str, topic: bytes | None) -> bool:
        """Whether a query's `@feed` and `@topic` terms hold for a message of `feed` with
        `topic` (all do when it has none): checked before the payload is decoded. Both are
        compared escaped, as the screen shows them (and the topics view writes them)."""
        if not self._meta:
            return True
        meta: dict[str, object] = {"@feed": printable(feed), "@notopic": topic is None}
        if topic is not None:  # else missing: `@topic=null` is a topic named null, no other
            meta["@topic"] = topic_text(topic)  # both as the screen shows them
        return all(term.holds(meta) for term in self._meta)

    def _query_matches(self, feed: str, message: DecodedMessage) -> bool:
        if not self.matches_meta(feed, message.topic):
            return False
        if not self._payload:
            return True
        return any(all(t.holds(value) for t in self._payload) for value in message.values())


NO_FILTER = FeedFilter("", "none")


def parse_filter(expression: str) -> FeedFilter:
    """The filter `expression` describes, or `FilterError` saying what is wrong."""
    stripped = expression.strip()
    if not stripped:
        return NO_FILTER
    if stripped.startswith("/") and len(stripped) > 1:
        body = stripped[1:-1] if stripped.endswith("/") and len(stripped) > 2 else stripped[1:]
        try:
            return FeedFilter(expression, "regex", pattern=re.compile(body))
        except re.error as exc:
            raise FilterError(f"bad regular expression: {exc}") from None
    if looks_like_query(stripped):
        try:
            query = parse_query(stripped)
        except QueryError as exc:
            raise FilterError(str(exc)) from None
        unknown = [
            ".".join(t.path)
            for t in query.terms
            if t.path[0].startswith(META_PREFIX) and ".".join(t.path) not in META_FIELDS
        ]
        if unknown:
            fields = ", ".join(META_FIELDS[:-1]) + f" and {META_FIELDS[-1]}"
            raise FilterError(f"{unknown[0]!r}: the message fields are {fields}")
        return FeedFilter(expression, "query", query=query)
    return FeedFilter(expression, "text")


def searchable_text(message: DecodedMessage) -> str:
    """What text and regex filters search: the topic and the payload as a list shows it (the
    first `MAX_SHOWN_CHARS` characters of each frame)."""
    summary = message.summary(limit=MAX_SHOWN_CHARS)
    return f"{message.topic_text()} {summary}" if message.topic is not None else summary
