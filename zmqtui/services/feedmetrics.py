"""A feed's figures for Prometheus, read from the counts the ingest engine keeps per topic.

The engine counts every message once, per feed and topic, in its `TopicStats` (the topics
view's counts, with each topic's latest change event for its lag); `FeedMetrics` reads them at
each scrape, on the HTTP thread of `zmqtui.services.metrics.MetricsServer`. Bounded: past
`max_topics` - 1 topics of a feed, later ones are counted together under `(other topics)`, as
in the topics view, so a feed with a topic per message cannot grow the scrape without end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from zmqtui.captures import NS_PER_MS
from zmqtui.text import printable
from zmqtui.topicstats import NO_TOPIC_TEXT, OTHER_TOPICS, OTHER_TOPICS_TEXT, TopicStats

MAX_TOPICS = 100
"""`topic` label values per feed, `(other topics)` included: the first 99 topics are counted
apart, any later one under `(other topics)`."""

TopicFigures = tuple[int, int, int | None]
"""A topic's messages, bytes (all frames) and the latest change event's lag in ms (or None)."""


def feed_topics(
    stats: TopicStats, feed: str, max_topics: int = MAX_TOPICS
) -> dict[str, TopicFigures]:
    """`feed`'s counts by `topic` label value: its first `max_topics` - 1 topics apart, any later
    one folded under `(other topics)`; the lag is that of the latest change event counted."""
    merged: dict[str, TopicFigures] = {}
    latest: dict[str, int] = {}
    for index, (topic, counter) in enumerate(stats.counters(feed)):
        label = OTHER_TOPICS_TEXT if index >= max_topics - 1 else topic_label(topic)
        messages, size, lag_ms = merged.get(label, (0, 0, None))
        if counter.sent_ms is not None and counter.event_ns >= latest.get(label, 0):
            latest[label] = counter.event_ns
            lag_ms = counter.event_ns // NS_PER_MS - int(counter.sent_ms)
        merged[label] = (messages + counter.messages, size + counter.bytes, lag_ms)
    return merged


def topic_label(topic: bytes | None) -> str:
    """A topic as a label value: escaped text, `(no topic)` or `(other topics)`."""
    if topic is None:
        return NO_TOPIC_TEXT
    if topic == OTHER_TOPICS:
        return OTHER_TOPICS_TEXT
    return printable(topic.decode("utf-8", "backslashreplace"))


FeedCounts = tuple[str, str, Callable[[], int]]
"""A feed's label value (its endpoint), its name in the counts, and the messages its `seq` says
were missed."""


class FeedMetrics(Collector):
    """Prometheus families of the feeds, read at each scrape from the engine's own counters.

    Args:
        stats: the engine's counts per feed and topic.
        feeds: each feed's label value, name and missed messages (the subscriber pane's
            `dropped`).
        behind_s: how long the engine has been taking in without pause (0 while it keeps up).
    """

    def __init__(
        self, stats: TopicStats, feeds: Sequence[FeedCounts], behind_s: Callable[[], float]
    ) -> None:
        self.stats = stats
        self.feeds = [(printable(label), name, missed) for label, name, missed in feeds]
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
        for feed, name, feed_missed in self.feeds:
            topics = feed_topics(self.stats, name)
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
