"""Counts per feed and topic: exact counts, rates per sample, bounded topics, sorting."""

from __future__ import annotations

from zmqtui.topicstats import OTHER_TOPICS, TopicsQuery, TopicStats

S = 1_000_000_000


def filled(stats: TopicStats | None = None) -> TopicStats:
    stats = TopicStats() if stats is None else stats
    for i in range(30):
        stats.count("market", b"md.AAPL", 100, i)
    for i in range(10):
        stats.count("market", b"md.MSFT", 1000, 100 + i)
    stats.count("logs", None, 50, 500)
    return stats


def test_counts_share_and_last_seen():
    stats = filled()
    rows = stats.rows()
    assert [(r.feed, r.topic, r.messages, r.bytes) for r in rows] == [
        ("market", b"md.AAPL", 30, 3000),
        ("market", b"md.MSFT", 10, 10000),
        ("logs", None, 1, 50),
    ]
    assert stats.total == 41 and round(rows[0].share, 3) == round(30 / 41, 3)
    assert rows[1].last_ns == 109 and rows[2].topic_text == "(no topic)"
    assert [r.topic for r in stats.rows(feed="logs")] == [None]


def test_sorting():
    stats = filled()
    assert stats.rows("bytes")[0].topic == b"md.MSFT"
    assert [r.topic for r in stats.rows("topic", descending=False)] == [
        None,
        b"md.AAPL",
        b"md.MSFT",
    ]
    assert [r.feed for r in stats.rows("feed", descending=False)] == ["logs", "market", "market"]
    assert stats.rows("last")[0].feed == "logs"


def test_rates_and_histories_per_sample():
    stats = TopicStats(sample_every_s=1.0)
    watching_a = TopicsQuery(watched=("f", b"a"))
    stats.watch("f", b"a")
    assert not stats.sample(0)  # the start
    for _ in range(20):
        stats.count("f", b"a", 1, 1)
    stats.count("f", b"b", 1, 1)
    assert not stats.sample(S // 2)  # too soon
    assert stats.sample(2 * S)
    assert stats.rows()[0].rate == 10.0 and stats.view(watching_a).feeds[0].rate == 10.5
    stats.count("f", b"a", 1, 3 * S)
    assert stats.sample(3 * S)
    view = stats.view(watching_a)
    assert view.feeds[0].history == (10.5, 1.0) and view.watched_history == (10.0, 1.0)
    assert stats.view(TopicsQuery(watched=("f", b"b"))).watched_history == ()


def test_topics_past_the_limit_are_counted_together():
    stats = TopicStats(max_topics=3)
    for i in range(100):
        stats.count("f", f"id.{i}".encode(), 10, i)
    rows = stats.rows()
    assert len(rows) == 4 and sum(r.messages for r in rows) == 100
    other = next(r for r in rows if r.topic == OTHER_TOPICS)
    assert other.messages == 97 and other.topic_text == "(other topics)"


def test_gaps_and_clear():
    stats = filled()
    stats.count_missed("market", b"md.AAPL", 3)
    assert stats.rows("missed")[0].missed == 3
    stats.watch("market", b"md.AAPL")
    stats.clear()
    assert stats.rows() == [] and stats.total == 0 and stats.view(TopicsQuery()).feeds == ()


def test_escaped_topic():
    stats = TopicStats()
    stats.count("f", b"evil\x1b[2J\xff", 1, 0)
    assert stats.rows()[0].topic_text == "evil\\x1b[2J\\xff"


def test_view_answers_a_query_and_watches_its_topic():
    stats = TopicStats()
    stats.sample(0)
    filled(stats)
    stats.sample(S)
    view = stats.view(TopicsQuery(sort="bytes", watched=("market", b"md.MSFT"), limit=2))
    assert [r.topic for r in view.rows] == [b"md.MSFT", b"md.AAPL"]
    assert view.topics == 3 and view.total == 41
    assert [(f.feed, f.rate, f.history) for f in view.feeds] == [
        ("market", 40.0, (40.0,)),
        ("logs", 1.0, (1.0,)),
    ]
    assert view.watched == ("market", b"md.MSFT") and view.watched_history == ()
    stats.count("market", b"md.MSFT", 1000, 2 * S)
    stats.sample(2 * S)
    assert stats.view(TopicsQuery(watched=("market", b"md.MSFT"))).watched_history == (1.0,)
    assert stats.view(TopicsQuery()).watched is None


def test_messages_before_the_first_sample_are_in_no_rate():
    stats = TopicStats()
    stats.count("f", b"a", 1, 0)
    stats.sample(0)
    stats.count("f", b"a", 1, S // 2)
    assert stats.sample(S)
    assert stats.rows()[0].rate == 1.0 and stats.view(TopicsQuery()).feeds[0].history == (1.0,)
