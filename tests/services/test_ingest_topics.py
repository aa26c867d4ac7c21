"""The ingest side counts every message per feed and topic and answers a topics query."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from zmqtui import demo
from zmqtui.config import FeedConfig
from zmqtui.protocol import ChangeEvent
from zmqtui.recording import RecordedFeed, RecordingWriter
from zmqtui.services.ingest import Feed, IngestProcess, Stream, StreamSpec
from zmqtui.services.playback import PlaybackProcess, index_recording
from zmqtui.timeline import NS_PER_S, Target
from zmqtui.topicstats import TopicsQuery, TopicsView

ROUNDS = 40
WARM_UP = b"warm.up"


def test_a_feed_counts_every_message_per_topic_with_its_bytes_and_gaps() -> None:
    feed = Feed(FeedConfig("market", "inproc://market"), [Stream("sub")])
    for frames in ([b"md.AAPL", b"12345"], [b"md.AAPL", b"6"], [b"10001 23 45"], [b"{}"]):
        feed.take(frames, 7)
    for seq in (1, 2, 5):  # 3 and 4 missed
        feed.take([ChangeEvent("a.txt", 1, "modified", seq, "p1", 7).encode()], 9)
    rows = {row.topic: row for row in feed.topic_stats.rows()}
    assert (rows[b"md.AAPL"].messages, rows[b"md.AAPL"].bytes) == (2, 12 + 8)
    assert rows[b"10001"].messages == 1 and rows[b"10001"].last_ns == 7
    assert rows[None].messages == 4 and rows[None].missed == 2
    assert {row.feed for row in rows.values()} == {"market"}


async def topics_view(ingest: IngestProcess, query: TopicsQuery) -> TopicsView:
    ingest.send("topics", query)
    while True:
        reply = await asyncio.wait_for(ingest.replies(), 10)
        if reply[0] == "topics":
            return reply[1]


@pytest.mark.integration
async def test_the_topics_counts_equal_what_was_sent_on_two_feeds(
    actx: zmq.asyncio.Context, ipc_endpoint
) -> None:
    """A known mix of any feed's messages on two feeds over ipc://, counted exactly per feed
    and topic by the child."""
    feeds = {"market": ipc_endpoint("market"), "mixed": ipc_endpoint("mixed")}
    pubs = {}
    for name, endpoint in feeds.items():
        pubs[name] = actx.socket(zmq.PUB)
        pubs[name].setsockopt(zmq.LINGER, 0)
        pubs[name].setsockopt(zmq.SNDHWM, 0)
        pubs[name].bind(endpoint)
    configs = [FeedConfig(name, endpoint) for name, endpoint in feeds.items()]
    ingest = IngestProcess(actx, configs, [StreamSpec("sub")])
    ingest.start()
    try:
        for _ in range(200):  # slow joiners: warm up until the child takes each feed in
            for pub in pubs.values():
                await pub.send_multipart([WARM_UP, b"-"])
            view = await topics_view(ingest, TopicsQuery())
            if {row.feed for row in view.rows} == set(feeds):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the ingest child never took both feeds in")
        sent: Counter[tuple[str, bytes | None]] = Counter()
        sizes: Counter[tuple[str, bytes | None]] = Counter()
        for index in range(1, ROUNDS + 1):
            for frames in demo.round_of(index):
                name = "market" if frames[0].startswith(b"md.") else "mixed"
                await pubs[name].send_multipart(frames)
                topic = frames[0] if len(frames) > 1 else frames[0].split(b" ")[0]
                topic = None if topic.startswith(b"{") else topic
                sent[name, topic] += 1
                sizes[name, topic] += sum(map(len, frames))
        for _ in range(200):
            view = await topics_view(ingest, TopicsQuery(limit=100))
            rows = [row for row in view.rows if row.topic != WARM_UP]
            if sum(row.messages for row in rows) >= sum(sent.values()):
                break
            await asyncio.sleep(0.05)
        assert {(row.feed, row.topic): row.messages for row in rows} == dict(sent)
        assert {(row.feed, row.topic): row.bytes for row in rows} == dict(sizes)
        assert view.topics == len(sent) + 2 and {f.feed for f in view.feeds} == set(feeds)
    finally:
        await ingest.stop()
        for pub in pubs.values():
            pub.close(linger=0)


async def test_a_played_recording_is_counted_per_topic_once_whatever_the_seeking(
    actx: zmq.asyncio.Context, tmp_path: Path
) -> None:
    """`--open`: the topics count what was played up to the position, with the rates the
    recording had; going back counts again from the start, not on top."""
    path = tmp_path / "r.jsonl"
    with RecordingWriter(path, [RecordedFeed("md", "tcp://127.0.0.1:5556")], start_ns=0) as w:
        for n in range(1, 41):  # 10 messages a second: md.A three times as often as md.B
            w.write(n * NS_PER_S // 10, "md", [b"md.A" if n % 4 else b"md.B", b"{}"])
    engine = PlaybackProcess(actx, path, index_recording(path), [StreamSpec("sub")], thread=True)
    engine.start()

    async def reply(kind: str) -> tuple:
        while True:
            answer = await asyncio.wait_for(engine.replies(), 10)
            if answer[0] == kind:
                return answer

    async def counts(index: int) -> tuple[dict[bytes | None, int], float]:
        """Messages per topic, and the rate of all, at message `index`."""
        engine.send("go", Target("message", index))
        while (await reply("position"))[1].index != index:
            pass
        engine.send("topics", TopicsQuery())
        view = (await reply("topics"))[1]
        return {row.topic: row.messages for row in view.rows}, sum(r.rate for r in view.rows)

    try:
        assert await counts(40) == ({b"md.A": 30, b"md.B": 10}, 10.0)
        assert await counts(20) == ({b"md.A": 15, b"md.B": 5}, 10.0)
    finally:
        await engine.stop()
