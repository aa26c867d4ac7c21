"""Counts per feed and topic, for a topics view that answers "what is flooding this bus?".

`TopicStats.count` is called once per message taken in (a dict lookup and a few additions);
the feeds' `/metrics` (`zmqtui.services.feedmetrics`) read the same counts. `sample` once a
second or so turns the counts into rates and rate histories (per feed, and for one watched
topic: the sparklines); `rows` gives the table, sorted; `view` answers a screen's `TopicsQuery`
with a `TopicsView` (the table, its histories), so the screen's work stays bounded by what it
shows, whatever the message rate. Bounded: past `max_topics` topics, new ones are counted
together in one `OTHER_TOPICS` row per feed.

Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal, get_args

from zmqtui.text import printable

SortKey = Literal["messages", "rate", "bytes", "last", "missed", "topic", "feed"]
SORT_KEYS: tuple[SortKey, ...] = get_args(SortKey)
OTHER_TOPICS = b"\x00other topics"
"""Where topics past the limit are counted (no real topic starts with a NUL byte)."""
NO_TOPIC_TEXT = "(no topic)"
OTHER_TOPICS_TEXT = "(other topics)"
NS_PER_S = 1_000_000_000

TopicKey = tuple[str, bytes | None]
"""A feed's name and a topic (None: messages without one)."""


@dataclass(slots=True)
class TopicCounter:
    """What is counted of one feed's topic (read from another thread by `/metrics`)."""

    messages: int = 0
    bytes: int = 0
    last_ns: int = 0
    missed: int = 0
    rate: float = 0.0
    marked: int = 0
    """`messages` at the previous sample."""
    event_ns: int = 0
    """Receive time of the latest change event (set by the ingest with `--metrics`)."""
    sent_ms: float | None = None
    """That event's publisher's timestamp (its lag is worked out when read, not per message)."""


@dataclass(frozen=True, slots=True)
class TopicRow:
    """One line of the topics view."""

    feed: str
    topic: bytes | None
    messages: int
    bytes: int
    rate: float
    """Messages per second over the latest sample interval."""
    share: float
    """This topic's fraction of all messages counted (0..1)."""
    last_ns: int
    """Receive time of its latest message."""
    missed: int
    """Messages its `seq` says were missed."""

    @property
    def topic_text(self) -> str:
        """The topic as the screen shows it: escaped, or `(no topic)`/`(other topics)`."""
        if self.topic is None:
            return NO_TOPIC_TEXT
        if self.topic == OTHER_TOPICS:
            return OTHER_TOPICS_TEXT
        return printable(self.topic.decode("utf-8", "backslashreplace"))


@dataclass(frozen=True, slots=True)
class TopicsQuery:
    """What a topics view asks for: the order of its rows, the topic it watches (for that
    topic's sparkline; None: none) and how many rows at most (the screen's work per answer
    grows with them, not with the topics counted)."""

    sort: SortKey = "messages"
    descending: bool = True
    watched: TopicKey | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class FeedRates:
    """A feed's rate over the latest sample and its history, oldest first (its sparkline)."""

    feed: str
    rate: float
    history: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class TopicsView:
    """The answer to a `TopicsQuery`: the first `limit` rows in its order, and the rates."""

    rows: tuple[TopicRow, ...]
    topics: int
    """Rows there are in all (more than `rows` holds past the query's limit)."""
    total: int
    """Messages counted, every feed and topic."""
    feeds: tuple[FeedRates, ...]
    watched: TopicKey | None
    watched_history: tuple[float, ...]
    """The watched topic's rate per sample since it was first watched, oldest first."""
    query: TopicsQuery = TopicsQuery()
    """The query answered."""


class TopicStats:
    """Messages, bytes, rate, last seen and gaps per feed and topic; rate histories per feed
    and for the watched topic."""

    def __init__(
        self, max_topics: int = 10_000, history: int = 60, sample_every_s: float = 1.0
    ) -> None:
        self.max_topics = max_topics
        self.sample_every_ns = int(sample_every_s * NS_PER_S)
        self._history_length = history
        self._watched: TopicKey | None = None
        self.clear()

    def clear(self) -> None:
        """Forget every count and history (the watched topic stays watched)."""
        self.total = 0
        """Messages counted, every feed and topic."""
        self._counters: dict[TopicKey, TopicCounter] = {}
        self._feeds: dict[str, TopicCounter] = {}
        self._feed_history: dict[str, deque[float]] = {}
        self._watched_history: deque[float] = deque(maxlen=self._history_length)
        self._sampled_ns: int | None = None

    def count(self, feed: str, topic: bytes | None, size: int, received_ns: int) -> TopicCounter:
        """One message of `size` bytes taken in on `feed` under `topic`; the counter it went
        to (the topic's own, or its feed's other topics past `max_topics`)."""
        counter = self._counters.get((feed, topic))
        if counter is None:
            counter = self._new_counter(feed, topic)
        counter.messages += 1
        counter.bytes += size
        counter.last_ns = received_ns
        self.total += 1
        return counter

    def _new_counter(self, feed: str, topic: bytes | None) -> TopicCounter:
        if len(self._counters) >= self.max_topics:
            key: TopicKey = (feed, OTHER_TOPICS)
            counter = self._counters.get(key)
            if counter is not None:
                return counter
        else:
            key = (feed, topic)
        counter = self._counters[key] = TopicCounter()
        if feed not in self._feeds:
            self._feeds[feed] = TopicCounter()
            self._feed_history[feed] = deque(maxlen=self._history_length)
        return counter

    def counters(self, feed: str) -> list[tuple[bytes | None, TopicCounter]]:
        """`feed`'s topics and their counters, in the order first counted (safe from another
        thread: the table is copied at once)."""
        return [(topic, c) for (name, topic), c in self._counters.copy().items() if name == feed]

    def count_missed(self, feed: str, topic: bytes | None, missed: int) -> None:
        """Messages a gap in `seq` says were lost on `feed` under `topic`."""
        counter = self._counters.get((feed, topic)) or self._counters.get((feed, OTHER_TOPICS))
        if counter is not None:
            counter.missed += missed

    def watch(self, feed: str | None, topic: bytes | None = None) -> None:
        """Keep a rate history for this topic (None: none), for its sparkline."""
        key = None if feed is None else (feed, topic)
        if key != self._watched:
            self._watched = key
            self._watched_history.clear()

    def sample(self, now_ns: int) -> bool:
        """Turn the counts since the previous sample into rates, when `sample_every_s` has
        passed (the first call only sets the start); True when it did."""
        if self._sampled_ns is None:
            self._sampled_ns = now_ns
            for counter in self._counters.values():  # what came before is in no interval
                counter.marked = counter.messages
            return False
        elapsed = now_ns - self._sampled_ns
        if elapsed < self.sample_every_ns:
            return False
        seconds = elapsed / NS_PER_S
        self._sampled_ns = now_ns
        per_feed = dict.fromkeys(self._feeds, 0)
        for (feed, _), counter in self._counters.items():
            fresh = counter.messages - counter.marked
            counter.rate, counter.marked = fresh / seconds, counter.messages
            per_feed[feed] += fresh
        for feed, fresh in per_feed.items():
            self._feeds[feed].rate = fresh / seconds
            self._feed_history[feed].append(fresh / seconds)
        if self._watched is not None:
            watched = self._counters.get(self._watched)
            self._watched_history.append(0.0 if watched is None else watched.rate)
        return True

    def view(self, query: TopicsQuery) -> TopicsView:
        """What a topics view shows for `query` (which also says the topic to watch)."""
        if query.watched is None:
            self.watch(None)
        else:
            self.watch(*query.watched)
        rows = self.rows(query.sort, query.descending)
        feeds = tuple(
            FeedRates(feed, counter.rate, tuple(self._feed_history[feed]))
            for feed, counter in self._feeds.items()
        )
        return TopicsView(
            tuple(rows[: max(0, query.limit)]),
            len(rows),
            self.total,
            feeds,
            self._watched,
            tuple(self._watched_history),
            query,
        )

    def rows(
        self, sort: SortKey = "messages", descending: bool = True, feed: str | None = None
    ) -> list[TopicRow]:
        """The table: every topic (of `feed`, or of all feeds), sorted by `sort`."""
        total = self.total or 1
        rows = [
            TopicRow(
                key_feed,
                topic,
                c.messages,
                c.bytes,
                c.rate,
                c.messages / total,
                c.last_ns,
                c.missed,
            )
            for (key_feed, topic), c in self._counters.items()
            if feed is None or key_feed == feed
        ]
        rows.sort(key=_SORTS[sort], reverse=descending)
        return rows


_SORTS = {
    "messages": lambda row: (row.messages, row.bytes),
    "rate": lambda row: (row.rate, row.messages),
    "bytes": lambda row: (row.bytes, row.messages),
    "last": lambda row: row.last_ns,
    "missed": lambda row: (row.missed, row.messages),
    "topic": lambda row: (row.topic is not None, row.topic or b"", row.feed),
    "feed": lambda row: (row.feed, row.topic or b""),
}
