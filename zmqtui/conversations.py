"""Request/reply conversations as a tap publishes them, and their latency by client and worker.

A tap (`zmqtui tap --pairs`) publishes each request with its reply as one JSON object. This
module reads those objects (`Conversation.from_wire`) and keeps a bounded record of them
(`ConversationBook`): the latest pairs, and for each client and each answering worker a window
of its latest latencies. Adding a pair costs a few appends; percentiles are worked out only
when a view is asked for, at most once per frame, and only for the rows shown. No zmq here:
the monitor's screen reads the views.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RECENT = 1000
"""Latest pairs kept to list."""
WINDOW = 1000
"""Latest latencies kept per client or worker for its percentiles."""
MAX_KEYS = 256
"""Clients (and workers) kept apart at most; any more are counted together as `OTHERS`."""
OTHERS = "(others)"
SHOWN_KEYS = 12
"""Clients (and workers) a view gives percentiles for: the busiest."""
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True, slots=True)
class Conversation:
    """A request and its reply (or none), as the tap saw them."""

    time_ms: float
    """When the request reached the tap, in ms since the epoch."""
    client: str
    request: str
    """The request's frames in the frame syntax, cut by the tap."""
    reply: str | None
    latency_ms: float | None
    pid: int | None
    """The answering worker's pid, when the reply names one."""
    no_reply: str | None = None
    """Why there is no reply: `timeout` (none within the tap's timeout) or `evicted`."""

    @classmethod
    def from_wire(cls, data: object) -> Conversation:
        """A pair as `Pair.to_wire` writes it; ValueError for anything else."""
        if not isinstance(data, Mapping):
            raise ValueError("a pair is a JSON object")
        try:
            conversation = cls(
                _number(data["time_ms"]),
                _text(data["client"]),
                _text(data["request"]),
                _optional(_text, data.get("reply")),
                _optional(_number, data.get("latency_ms")),
                _optional(_pid, data.get("pid")),
                _optional(_text, data.get("no_reply")),
            )
        except KeyError as exc:
            raise ValueError(f"a pair has no {exc}") from None
        if (conversation.reply is None) == (conversation.no_reply is None):
            raise ValueError("a pair has either a reply or a reason it has none")
        return conversation


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    return value


def _pid(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a pid: {value!r}")
    return value


def _optional(check: Any, value: Any) -> Any:
    return None if value is None else check(value)


@dataclass(frozen=True, slots=True)
class LatencyRow:
    """One client's or worker's figures: pairs, requests without a reply, latency percentiles
    (ms, over its latest `WINDOW` replies; None before any reply)."""

    name: str
    pairs: int
    no_reply: int
    p50: float | None
    p90: float | None
    p99: float | None


@dataclass(frozen=True, slots=True)
class ConversationsView:
    """What the Conversations view shows: totals, the latest pairs and the busiest rows."""

    generation: int
    """Grows with every pair taken in: an unchanged view is not shown again."""
    pairs: int = 0
    no_reply: int = 0
    malformed: int = 0
    """Messages that were not pairs (ignored)."""
    recent: tuple[Conversation, ...] = ()
    """The latest pairs, oldest first."""
    clients: tuple[LatencyRow, ...] = ()
    workers: tuple[LatencyRow, ...] = ()
    """By the answering worker's pid (as text); replies naming none are left out."""


@dataclass(slots=True)
class _Latencies:
    pairs: int = 0
    no_reply: int = 0
    window: collections.deque[float] = field(
        default_factory=lambda: collections.deque(maxlen=WINDOW)
    )

    def row(self, name: str) -> LatencyRow:
        ranked = sorted(self.window)
        return LatencyRow(name, self.pairs, self.no_reply, *(_rank(ranked, p) for p in PERCENTILES))


def _rank(ranked: list[float], percentile: int) -> float | None:
    """The nearest-rank percentile of sorted values."""
    if not ranked:
        return None
    return ranked[max(0, math.ceil(percentile / 100 * len(ranked)) - 1)]


class _Table:
    """Latencies per key, for at most `MAX_KEYS` keys (then `OTHERS`)."""

    def __init__(self) -> None:
        self.rows: dict[str, _Latencies] = {}

    def add(self, key: str, latency_ms: float | None) -> None:
        rows = self.rows
        entry = rows.get(key)
        if entry is None:
            if len(rows) >= MAX_KEYS:
                key = OTHERS
            entry = rows.setdefault(key, _Latencies())
        entry.pairs += 1
        if latency_ms is None:
            entry.no_reply += 1
        else:
            entry.window.append(latency_ms)

    def busiest(self, count: int) -> tuple[LatencyRow, ...]:
        names = sorted(self.rows, key=lambda name: (-self.rows[name].pairs, name))[:count]
        return tuple(self.rows[name].row(name) for name in names)


class ConversationBook:
    """The bounded record of the pairs taken in; not thread-safe (its owner locks)."""

    def __init__(self, recent: int = RECENT) -> None:
        self.generation = 0
        self.pairs = 0
        self.no_reply = 0
        self.malformed = 0
        self._recent: collections.deque[Conversation] = collections.deque(maxlen=recent)
        self._clients = _Table()
        self._workers = _Table()

    def add(self, conversation: Conversation) -> None:
        self.generation += 1
        self.pairs += 1
        self._recent.append(conversation)
        latency = conversation.latency_ms
        if conversation.no_reply is not None:
            self.no_reply += 1
            latency = None
        self._clients.add(conversation.client, latency)
        if conversation.pid is not None:
            self._workers.add(str(conversation.pid), latency)

    def add_malformed(self) -> None:
        self.generation += 1
        self.malformed += 1

    def view(self, rows: int, shown_keys: int = SHOWN_KEYS) -> ConversationsView:
        """The totals, the latest `rows` pairs and the busiest `shown_keys` clients and
        workers with their percentiles."""
        recent = self._recent
        latest = itertools.islice(recent, max(0, len(recent) - rows), None) if rows > 0 else ()
        return ConversationsView(
            self.generation,
            self.pairs,
            self.no_reply,
            self.malformed,
            tuple(latest),
            self._clients.busiest(shown_keys),
            self._workers.busiest(shown_keys),
        )
