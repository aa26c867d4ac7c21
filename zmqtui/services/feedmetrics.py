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


FeedCounts = tuple[str, TopicCounts, Callable[[], int]]
"""A feed's label value (its endpoint), its per-topic counts, and the messages its `seq` says
were missed."""


class FeedMetrics(Collector):
    """Prometheus families of the feeds, read at each scrape from the engine's own counters.

    Args:
        feeds: each feed's label value, counts and missed messages (the subscriber pane's
            `dropped`).
        behind_s: how long the engine has been taking in without pause (0 while it keeps up).
    """

    def __init__(self, feeds: Sequence[FeedCounts], behind_s: Callable[[], float]) -> None:
        self.feeds = [(printable(label), counts, missed) for label, counts, missed in feeds]
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
        topic_count = _per_feed(
            GaugeMetricFamily,
            "zmqtui_feed_topics",
            f"Topic label values of the feed (at most {MAX_TOPICS}, the rest folded into "
            "`(other topics)`).",
        )
        missed = _per_feed(
            CounterMetricFamily,
            "zmqtui_feed_missed_messages",
            "Messages the change events' `seq` says never arrived (gaps: dropped on the way).",
        )
        behind = _per_feed(
            GaugeMetricFamily,
            "zmqtui_feed_behind_seconds",
            "How long messages have been waiting without pause (0 while the ingest keeps up).",
        )
        behind_s = self.behind_s()
        for feed, counts, feed_missed in self.feeds:
            topics = counts.snapshot()
            for topic, (count, total, lag_ms) in topics.items():
                key = [feed, topic]
                messages.add_metric(key, count)
                size.add_metric(key, total)
                if lag_ms is not None:
                    lag.add_metric(key, lag_ms / 1000)
            topic_count.add_metric([feed], len(topics))
            missed.add_metric([feed], feed_missed())
            behind.add_metric([feed], behind_s)
        yield from (messages, size, lag, topic_count, missed, behind)


def _per_feed(
    family: type[CounterMetricFamily | GaugeMetricFamily], name: str, text: str
) -> Metric:
    """A family with one sample per feed."""
    return family(name, text, labels=["feed"])
