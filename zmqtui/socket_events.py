"""The monitor's socket events as a timeline: connects, disconnects, retries, failed handshakes.

The bridge turns each socket-monitor event of the monitor's sockets into a `SocketEvent`; the
app keeps them in a `SocketEventLog`, which the `l` log shows. The log is bounded, and a socket
that keeps retrying a peer that is down (libzmq retries about ten times a second) adds one line
whose count grows, not a line per retry. No zmq here.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass, replace

CAPACITY = 500
"""Lines the log keeps; the oldest go first."""
FOLD_WITHIN = 8
"""How far back a repeat of a socket's latest event is looked for, to be counted on its line,
and a late event's place in time."""


@dataclass(frozen=True, slots=True)
class SocketEvent:
    """One thing that happened to one of the monitor's sockets."""

    time_ms: float
    socket: str
    """Which of the monitor's sockets: sub, req, stats, control, tap."""
    endpoint: str
    event: str
    """connecting, connected, disconnected, retrying, handshake failed, failed."""
    detail: str = ""
    """Why, in plain words (a failed handshake's reason)."""
    repeats: int = 1
    """How many times it happened in a row; `last_ms` is the latest."""
    last_ms: float | None = None

    @property
    def latest_ms(self) -> float:
        return self.time_ms if self.last_ms is None else self.last_ms

    def same_as(self, other: SocketEvent) -> bool:
        return (self.socket, self.endpoint, self.event, self.detail) == (
            other.socket,
            other.endpoint,
            other.event,
            other.detail,
        )


class SocketEventLog:
    """The latest `capacity` events, oldest first, repeats counted on one line."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self._events: collections.deque[SocketEvent] = collections.deque(maxlen=capacity)
        self.generation = 0
        """Grows with every event added: the log's screen repaints only on a change."""

    def add(self, event: SocketEvent) -> None:
        self.generation += 1
        events = self._events
        for back in range(1, min(FOLD_WITHIN, len(events)) + 1):
            earlier = events[-back]
            if earlier.socket != event.socket or earlier.endpoint != event.endpoint:
                continue
            if earlier.same_as(event):
                del events[-back]
                events.append(replace(earlier, repeats=earlier.repeats + 1, last_ms=event.time_ms))
                return
            break  # the socket's latest event is another: this one starts a line
        # Sockets report from other threads and processes, a frame late at most: a late one
        # goes among the latest lines, in the order of time.
        at = len(events)
        while at > max(0, len(events) - FOLD_WITHIN) and events[at - 1].latest_ms > event.time_ms:
            at -= 1
        if len(events) == events.maxlen:  # full: the oldest goes first
            events.popleft()
            at = max(0, at - 1)
        events.insert(at, event)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[SocketEvent]:
        return iter(self._events)
