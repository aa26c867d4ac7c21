"""A feed's figures for Prometheus, counted where the feed is taken in (the ingest engine).

`TopicCounts.count` runs once per message in the engine's batch loop (the topic, a dict
lookup, two additions); `FeedMetrics` turns the counts into Prometheus families at each
scrape, on the HTTP thread of `zmqtui.services.metrics.MetricsServer`. Bounded: past
`max_topics` - 1 topics, new ones are counted together under `(other topics)`, as in the topics
view, so a feed with a topic per message cannot grow the scrape without end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from zmqtui.captures import NS_PER_MS
from zmqtui.text import printable
from zmqtui.topics import TopicRule, topic_of
from zmqtui.topicstats import NO_TOPIC_TEXT, OTHER_TOPICS, OTHER_TOPICS_TEXT

MAX_TOPICS = 100
"""`topic` label values per feed, `(other topics)` included: the first 99 topics are counted
apart, any later one under `(other topics)`."""

MESSAGES, BYTES, RECEIVED_NS, STAMP = range(4)
"""The slots of a topic's counts: messages, bytes (all frames), the latest change event's
receive time and stamp (its lag is worked out at a scrape, not per message)."""


class TopicCounts:
    """Messages, bytes and the latest lag per topic of one feed, exact and bounded."""

    def __init__(self, rule: TopicRule = "auto", max_topics: int = MAX_TOPICS) -> None:
        self.rule = rule
        self.max_topics = max_topics
        self.topics: dict[bytes | None, list[Any]] = {}

    def count(self, frames: Sequence[bytes], received_ns: int, stamp: Any) -> None:
        """One message taken in; `stamp` is its change event's stamp, or None."""
        topic = topic_of(frames, self.rule)
        counts = self.topics.get(topic)
        if counts is None:
            counts = self._new(topic)
        counts[MESSAGES] += 1
        counts[BYTES] += len(frames[0]) if len(frames) == 1 else sum(map(len, frames))
        if stamp is not None:
            counts[RECEIVED_NS] = received_ns
            counts[STAMP] = stamp

    def _new(self, topic: bytes | None) -> list[Any]:
        if len(self.topics) >= self.max_topics - 1:  # the last label value is for the rest
            topic = OTHER_TOPICS
            if topic in self.topics:
                return self.topics[topic]
        counts = self.topics[topic] = [0, 0, 0, None]
        return counts

    def snapshot(self) -> dict[str, tuple[int, int, int | None]]:
        """The counts by label value (safe from another thread: the dict is copied at once)."""
        merged: dict[str, tuple[int, int, int | None]] = {}
        for topic, (messages, size, received_ns, stamp) in self.topics.copy().items():
            label = topic_label(topic)
            lag_ms = None if stamp is None else received_ns // NS_PER_MS - int(stamp.timestamp)
            if label in merged:  # two raw topics that read the same once escaped
                before = merged[label]
                messages, size = messages + before[0], size + before[1]
                lag_ms = before[2] if lag_ms is None else lag_ms
            merged[label] = (messages, size, lag_ms)
        return merged


def topic_label(topic: bytes | None) -> str:
    """A topic as a label value: escaped text, `(no topic)` or `(other topics)`."""
    if topic is None:
        return NO_TOPIC_TEXT
    if topic == OTHER_TOPICS:
        return OTHER_TOPICS_TEXT
    return printable(topic.decode("utf-8", "backslashreplace"))


class FeedMetrics(Collector):
    """Prometheus families of one feed, read at each scrape from the engine's own counters.

    Args:
        feed: the feed's label value (its endpoint).
        counts: the per-topic counts.
        missed: messages the feed's `seq` says were missed (the subscriber pane's `dropped`).
        behind_s: how long the engine has been taking in without pause (0 while it keeps up).
    """

    def __init__(
        self,
        feed: str,
        counts: TopicCounts,
        missed: Callable[[], int],
        behind_s: Callable[[], float],
    ) -> None:
        self.feed = printable(feed)
        self.counts = counts
        self.missed = missed
        self.behind_s = behind_s

    def collect(self) -> Iterator[Metric]:
        labels = ["feed", "topic"]
        messages = CounterMetricFamily(
            "zmqtui_feed_messages", "Messages the feed took in, by topic.", labels=labels
        )
        size = CounterMetricFamily(
            "zmqtui_feed_bytes", "Bytes of those messages (all frames), by topic.", labels=labels
        )
        lag = GaugeMetricFamily(
            "zmqtui_feed_lag_seconds",
            "Receive time minus the publisher's timestamp of the latest change event, by topic.",
            labels=labels,
        )
        topics = self.counts.snapshot()
        for topic, (count, total, lag_ms) in topics.items():
            key = [self.feed, topic]
            messages.add_metric(key, count)
            size.add_metric(key, total)
            if lag_ms is not None:
                lag.add_metric(key, lag_ms / 1000)
        yield from (messages, size, lag)
        yield _one(
            GaugeMetricFamily,
            "zmqtui_feed_topics",
            f"Topic label values of the feed (at most {self.counts.max_topics}, the rest folded "
            "into `(other topics)`).",
            self.feed,
            len(topics),
        )
        yield _one(
            CounterMetricFamily,
            "zmqtui_feed_missed_messages",
            "Messages the change events' `seq` says never arrived (gaps: dropped on the way).",
            self.feed,
            self.missed(),
        )
        yield _one(
            GaugeMetricFamily,
            "zmqtui_feed_behind_seconds",
            "How long messages have been waiting without pause (0 while the ingest keeps up).",
            self.feed,
            self.behind_s(),
        )


def _one(
    family: type[CounterMetricFamily | GaugeMetricFamily],
    name: str,
    text: str,
    feed: str,
    value: float,
) -> Metric:
    """A family with one sample, labelled by feed."""
    metric = family(name, text, labels=["feed"])
    metric.add_metric([feed], value)
    return metric
