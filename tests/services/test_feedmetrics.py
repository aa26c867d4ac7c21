"""The monitor's feed figures for Prometheus: counted per topic in the ingest engine, bounded,
served at `/metrics` by the ingest child and equal to the monitor's own counts."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
import zmq
import zmq.asyncio
from click.testing import CliRunner
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from test_ingest import wire
from test_metrics import scrape

from zmqtui.captures import FeedView, ViewQuery
from zmqtui.commands.monitor import command as monitor_command
from zmqtui.config import FeedConfig
from zmqtui.services.feedmetrics import FeedMetrics, feed_topics
from zmqtui.services.ingest import Feed, IngestProcess, Stream, StreamSpec
from zmqtui.services.metrics import MetricsAddress
from zmqtui.topicstats import TopicStats


def by_topic(samples: dict[tuple, float]) -> dict[str, float]:
    return {dict(labels)["topic"]: value for labels, value in samples.items()}


def collected(metrics: FeedMetrics) -> dict[str, dict[tuple, float]]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_a_feed_counts_messages_bytes_and_lag_per_topic() -> None:
    stats = TopicStats()
    endpoint = "tcp://127.0.0.1:1"
    feed = Feed(FeedConfig(endpoint, endpoint), [Stream("sub")], stats, metered=True)
    now = time.time_ns()
    feed.take([b"md.A", b"12345"], now)
    feed.take([b"md.A", b"1"], now)
    feed.take([b"10001 23 45"], now)
    event = wire(1, at=now // 1_000_000 - 250)
    feed.take(event, now)
    samples = collected(FeedMetrics(stats, [(endpoint, feed.name, feed.missed)], lambda: 0.0))
    assert by_topic(samples["zmqtui_feed_messages_total"]) == {
        "md.A": 2,
        "10001": 1,
        "(no topic)": 1,
    }
    assert by_topic(samples["zmqtui_feed_bytes_total"]) == {
        "md.A": 4 + 5 + 4 + 1,
        "10001": 11,
        "(no topic)": len(event[0]),
    }
    assert by_topic(samples["zmqtui_feed_lag_seconds"]) == {"(no topic)": 0.25}
    assert samples["zmqtui_feed_missed_messages_total"] == {(("feed", "tcp://127.0.0.1:1"),): 0}


def test_topics_past_the_limit_fold_into_one_label_value() -> None:
    stats = TopicStats()
    for n in range(10):
        stats.count("f", f"t{n}".encode(), 1, time.time_ns())
    stats.count("f", b"t0", 1, time.time_ns())
    assert {k: v[0] for k, v in feed_topics(stats, "f", max_topics=3).items()} == {
        "t0": 2,
        "t1": 1,
        "(other topics)": 8,
    }


def test_topic_labels_are_escaped() -> None:
    stats = TopicStats()
    stats.count("f", b"a\x1b[31m", 1, time.time_ns())
    assert list(feed_topics(stats, "f")) == ["a\\x1b[31m"]


def test_gaps_are_the_screens_missed_count() -> None:
    sub = Stream("sub")
    feed = Feed(FeedConfig("f", "inproc://f"), [Stream("observer", track=False), sub], metered=True)
    for seq in (1, 2, 6):
        feed.take(wire(seq), time.time_ns())
    assert feed.missed() == sub.missed == 3


@pytest.mark.integration
async def test_the_ingest_child_serves_its_counts_per_topic(
    actx: zmq.asyncio.Context, tcp_endpoint
) -> None:
    """N messages on each of two topics from a real PUB: `/metrics` counts N per topic, and
    its total is what the monitor's panes counted."""
    n = 500
    endpoint = tcp_endpoint()
    pub = actx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind(endpoint)
    streams = [StreamSpec("observer", track=False), StreamSpec("sub")]
    feeds = [FeedConfig(endpoint, endpoint)]
    ingest = IngestProcess(actx, feeds, streams, metrics=MetricsAddress("127.0.0.1", 0))
    ingest.start()
    urls: list[str] = []
    views: dict[str, FeedView] = {}

    async def read() -> None:
        while True:
            reply = await ingest.replies()
            if reply[0] == "metrics":
                urls.append(reply[1])
            elif reply[0] == "view":
                views[reply[1].stream] = reply[1]

    async def until(condition, what: str) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, what
            for stream in ("observer", "sub"):
                ingest.send("view", stream, ViewQuery(None, 1))
            await asyncio.sleep(0.05)

    reader = asyncio.create_task(read())
    try:
        warm = 0
        deadline = time.monotonic() + 10
        while "observer" not in views or not views["observer"].received:
            assert time.monotonic() < deadline, "nothing arrived (slow joiner)"
            await pub.send_multipart([b"warm", b"up"])
            warm += 1
            ingest.send("view", "observer", ViewQuery(None, 1))
            await asyncio.sleep(0.05)
        for i in range(n):
            await pub.send_multipart([b"md.A", b"%d" % i])
            await pub.send_multipart([b"md.B", b"%d" % i])
        assert urls and urls[0].startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 10
        while True:  # the warm-up messages the slow joiner missed are never counted
            samples = await asyncio.to_thread(scrape, urls[0])
            messages = by_topic(samples.get("zmqtui_feed_messages_total", {}))
            if messages.get("md.A") == messages.get("md.B") == n:
                break
            assert time.monotonic() < deadline, f"not everything was counted: {messages}"
            await asyncio.sleep(0.05)
        assert set(messages) == {"warm", "md.A", "md.B"} and messages["warm"] <= warm
        total = sum(messages.values())
        await until(
            lambda: len(views) == 2 and all(v.received == total for v in views.values()),
            f"the panes never counted the {total} messages /metrics counted",
        )
        assert by_topic(samples["zmqtui_feed_bytes_total"])["md.A"] == n * 4 + sum(
            len(b"%d" % i) for i in range(n)
        )
        assert {dict(k)["feed"] for k in samples["zmqtui_feed_messages_total"]} == {endpoint}
    finally:
        reader.cancel()
        await ingest.stop()
        pub.close(linger=0)


@pytest.mark.integration
async def test_a_metrics_port_in_use_is_told_and_the_engine_runs_on(
    actx: zmq.asyncio.Context, tcp_endpoint
) -> None:
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    endpoint = tcp_endpoint()
    ingest = IngestProcess(
        actx,
        [FeedConfig(endpoint, endpoint)],
        [StreamSpec("sub")],
        metrics=MetricsAddress("127.0.0.1", port),
        thread=True,
    )
    ingest.start()
    try:
        replies = []
        while not any(r[0] == "problem" for r in replies):
            replies.append(await asyncio.wait_for(ingest.replies(), 10))
        problem = next(r for r in replies if r[0] == "problem")
        assert f"cannot serve metrics on 127.0.0.1:{port}" in problem[1]
        assert problem[2] == "error" and ingest.alive()
    finally:
        await ingest.stop()
        taken.close()


def test_the_monitor_refuses_metrics_beyond_loopback_unless_insecure() -> None:
    result = CliRunner().invoke(
        monitor_command, ["--sub", "tcp://127.0.0.1:1", "--metrics", "0.0.0.0:9"]
    )
    assert result.exit_code == 2 and "not a loopback address" in result.output
    result = CliRunner().invoke(monitor_command, ["--metrics", "nine"])
    assert result.exit_code == 2 and "[HOST:]PORT" in result.output
