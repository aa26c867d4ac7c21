"""Playback: a recording indexed once, fed into streams up to a position that seeks, steps and
plays at a speed (on a fake clock); the engine that serves it with the live monitor's views."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from zmqtui.captures import FeedView, ViewQuery
from zmqtui.config import FeedConfig
from zmqtui.protocol import ChangeEvent
from zmqtui.recording import RecordedFeed, RecordingError, RecordingWriter
from zmqtui.services.ingest import Feed, Stream, StreamSpec
from zmqtui.services.playback import (
    Playback,
    PlaybackEngine,
    PlaybackProcess,
    RecordingIndex,
    index_recording,
)
from zmqtui.timeline import NS_PER_S, Target
from zmqtui.topicstats import TopicsQuery

START_NS = 1_767_225_600 * NS_PER_S
"""2026-01-01 00:00:00 UTC."""


def record(path: Path, count: int = 10, every_s: float = 1.0) -> Path:
    """`count` change events, one every `every_s` from a second after the start."""
    feeds = [RecordedFeed("fs", "tcp://127.0.0.1:60400")]
    with RecordingWriter(path, feeds, start_ns=START_NS) as w:
        for seq in range(1, count + 1):
            at = START_NS + round(seq * every_s * NS_PER_S)
            event = ChangeEvent(f"f{seq}.txt", at // 1_000_000, "modified", seq, "p1", 7)
            w.write(at, "fs", [event.encode()])
    return path


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Taken:
    """What a playback handed over, and how often it started again."""

    def __init__(self) -> None:
        self.times: list[int] = []
        self.restarts = 0

    def take(self, feed: str, frames, received_ns: int) -> None:
        self.times.append(received_ns)

    def restart(self) -> None:
        self.times.clear()
        self.restarts += 1


def playback(path: Path, clock: FakeClock | None = None) -> tuple[Playback, Taken]:
    taken = Taken()
    index = index_recording(path)
    return Playback(path, index, taken.take, taken.restart, clock=clock or FakeClock()), taken


def settle(playback: Playback) -> None:
    while playback.advance(limit=3):
        pass


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.zst"])
def test_the_index_has_every_messages_time(tmp_path: Path, name: str) -> None:
    index = index_recording(record(tmp_path / name, 5))
    assert index.total == 5 and index.header.start_ns == START_NS
    assert list(index.times) == [START_NS + n * NS_PER_S for n in range(1, 6)]


def test_a_malformed_line_is_named_by_its_number(tmp_path: Path) -> None:
    path = record(tmp_path / "r.jsonl", 5)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[3] = b'{"t": "soon", "feed": "fs", "frames": ["x"]}\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(RecordingError) as caught:
        index_recording(path)
    assert caught.value.line == 4 and "t must be an integer" in str(caught.value)


def test_seeking_forward_reads_on_and_back_starts_again(tmp_path: Path) -> None:
    player, taken = playback(record(tmp_path / "r.jsonl", 10))
    player.seek(7)
    assert player.report().going_to == 7
    settle(player)
    assert player.position == 7 and len(taken.times) == 7 and taken.restarts == 0
    player.seek(9)
    settle(player)
    assert len(taken.times) == 9 and taken.restarts == 0  # read on, not again
    player.seek(4)
    settle(player)
    assert taken.times == list(index_recording(tmp_path / "r.jsonl").times[:4])
    assert taken.restarts == 1
    player.seek(99)
    settle(player)
    assert player.report().at_end and player.report().index == 10


def test_a_time_goes_to_the_last_message_received_by_then(tmp_path: Path) -> None:
    player, _ = playback(record(tmp_path / "r.jsonl", 10))
    player.seek_time(START_NS + 3 * NS_PER_S + 500_000_000)
    settle(player)
    position = player.report()
    assert (position.index, position.time_ns) == (3, START_NS + 3 * NS_PER_S)
    player.go(Target("time", START_NS))  # before the first message
    settle(player)
    assert player.report().index == 0 and player.report().time_ns == START_NS
    player.go(Target("message", 6))
    settle(player)
    assert player.report().index == 6


def test_steps_pause_and_stop_at_either_end(tmp_path: Path) -> None:
    player, taken = playback(record(tmp_path / "r.jsonl", 3))
    player.play()
    player.step(1)
    assert not player.playing
    settle(player)
    assert player.position == 1
    player.step(-1)
    player.step(-1)
    settle(player)
    assert player.position == 0 and taken.times == []
    for _ in range(5):
        player.step(1)
    settle(player)
    assert player.position == 3


def test_playing_follows_the_recorded_pace_times_the_speed(tmp_path: Path) -> None:
    clock = FakeClock()
    player, _ = playback(record(tmp_path / "r.jsonl", 10), clock)
    player.play()
    assert player.wait_s() == pytest.approx(1.0)  # the first message a second after the start
    clock.now += 2.5
    settle(player)
    assert player.position == 2 and player.report().playing
    player.set_speed(player.speed * 2)
    assert player.wait_s() == pytest.approx(0.25)  # message 3 is 0.5 s away at 2x
    clock.now += 1.0  # two recorded seconds
    settle(player)
    assert player.position == 4
    player.toggle()
    clock.now += 100
    settle(player)
    assert player.position == 4 and player.wait_s() is None  # paused: nothing moves
    player.toggle()
    clock.now += 100
    settle(player)
    position = player.report()
    assert position.at_end and not position.playing  # the end pauses it
    player.play()  # at the end: from the start again (at 2x)
    clock.now += 0.6
    settle(player)
    assert player.position == 1 and player.playing


def test_the_speed_stays_within_its_bounds(tmp_path: Path) -> None:
    player, _ = playback(record(tmp_path / "r.jsonl", 2))
    for _ in range(20):
        player.set_speed(player.speed * 2)
    assert player.speed == 256
    for _ in range(20):
        player.set_speed(player.speed / 2)
    assert player.speed == 1 / 16


def test_going_back_starts_the_streams_again_with_their_filter(tmp_path: Path) -> None:
    """The live monitor's streams, restarted: counts from the start, the filter kept."""
    path = record(tmp_path / "r.jsonl", 10)
    stream = Stream("sub")
    feed = Feed(FeedConfig("fs", "inproc://fs"), [stream])
    player = Playback(
        path,
        index_recording(path),
        lambda _name, frames, received_ns: feed.take(list(frames), received_ns),
        stream.restart,
        clock=FakeClock(),
    )
    stream.set_filter("f1")  # f1.txt and f10.txt
    player.seek(10)
    settle(player)
    assert (stream.received, stream.shown) == (10, 2)
    generation = stream.generation
    player.seek(5)
    settle(player)
    view = stream.view(ViewQuery(None, 10))
    assert (view.received, view.shown) == (5, 1)
    assert view.generation > generation


@pytest.mark.integration
@pytest.mark.parametrize("thread", [True, False], ids=["thread", "process"])
async def test_the_engine_plays_a_recording_into_the_live_monitors_streams(
    actx: zmq.asyncio.Context, tmp_path: Path, thread: bool
) -> None:
    path = record(tmp_path / "r.jsonl.zst", 50, every_s=0.001)
    index = index_recording(path)
    streams = [StreamSpec("observer", track=False), StreamSpec("sub")]
    engine = PlaybackProcess(actx, path, index, streams, thread=thread)
    engine.start()
    replies: list[tuple] = []

    async def until(predicate) -> tuple:
        while True:
            reply = await asyncio.wait_for(engine.replies(), 10)
            replies.append(reply)
            if predicate(reply):
                return reply

    try:
        await until(lambda r: r[0] == "position")
        assert replies[1] == ("state", "fs", "recorded", "tcp://127.0.0.1:60400", "")
        engine.send("go", Target("message", 30))
        await until(lambda r: r[0] == "position" and r[1].index == 30)
        engine.send("view", "sub", ViewQuery(None, 5))
        view = (await until(lambda r: r[0] == "view"))[1]
        assert view.received == 30 and view.rows[-1].event.seq == 30
        engine.send("prefixes", "sub", ('{"type":"changed","file":"f2',))  # f2, f20..f29
        engine.send("step", -1)
        await until(lambda r: r[0] == "position" and r[1].index == 29)
        engine.send("view", "sub", ViewQuery(None, 20))
        view = (await until(lambda r: r[0] == "view"))[1]
        assert view.received == 11  # f2, f20..f29: taken in again with the new prefix
        engine.send("topics", TopicsQuery())
        topics = (await until(lambda r: r[0] == "topics"))[1]
        assert topics.total == 29  # counted again from the start, not on top
        engine.send("speed", 256.0)
        engine.send("toggle")
        end = await until(lambda r: r[0] == "position" and r[1].at_end)
        assert not end[1].playing and end[1].speed == 256
    finally:
        await engine.stop()


def test_an_index_pickles_small(tmp_path: Path) -> None:
    """What the child is handed: 8 bytes a message, not the messages."""
    import pickle

    index = index_recording(record(tmp_path / "r.jsonl", 1000))
    assert isinstance(index, RecordingIndex)
    assert len(pickle.dumps(index)) < 9 * 1000 + 1000


def test_going_back_starts_from_the_nearest_checkpoint(tmp_path: Path) -> None:
    """With save and load, only the messages after the checkpoint are taken again."""
    path = record(tmp_path / "r.jsonl.zst", 10)
    taken = Taken()
    player = Playback(
        path,
        index_recording(path),
        taken.take,
        taken.restart,
        clock=FakeClock(),
        save=lambda: pickle.dumps(taken.times),
        load=lambda state: setattr(taken, "times", pickle.loads(state)),
        checkpoint_every=3,
    )
    player.seek(10)
    settle(player)
    player.seek(5)
    settle(player)
    times = list(index_recording(path).times)
    assert taken.times == times[:5] and taken.restarts == 0  # from the checkpoint at 3
    player.seek(2)
    settle(player)
    assert taken.times == times[:2] and taken.restarts == 1  # none before 3: from the start
    player.seek(7)
    settle(player)
    player.rewind()  # what is taken changed: the checkpoints are gone
    player.seek(4)
    settle(player)
    assert taken.times == times[:4] and taken.restarts == 2


def engine_at(ctx: zmq.Context, path: Path, route: list[int], **options) -> FeedView:
    """A playback engine taken along `route` (positions), with a filter set on the way; the
    subscriber stream's view at the end."""
    pair, peer = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    address = f"inproc://engine-at-{options['checkpoint_every']}"
    peer.bind(address)
    pair.connect(address)
    try:
        streams = [StreamSpec("observer", track=False), StreamSpec("sub")]
        engine = PlaybackEngine(ctx, pair, str(path), index_recording(path), streams, **options)
        for n, position in enumerate(route):
            engine.command_seek(position)
            while engine.playback.advance():
                pass
            if n == 0:
                engine.command_filter("sub", "f1")
        return engine.streams["sub"].view(ViewQuery(None, 50))
    finally:
        pair.close(linger=0)
        peer.close(linger=0)


def test_a_checkpoint_gives_the_streams_as_taking_them_in_again_would(
    ctx: zmq.Context, tmp_path: Path
) -> None:
    """Counts, rows, the filter set after the checkpoint: the same as from the start."""
    path = record(tmp_path / "r.jsonl", 50)
    route = [45, 33, 12, 27]
    kept = engine_at(ctx, path, route, checkpoint_every=10)
    again = engine_at(ctx, path, route, checkpoint_every=1_000_000)
    assert (kept.received, kept.shown) == (again.received, again.shown) == (27, 11)
    assert [row.frames for row in kept.rows] == [row.frames for row in again.rows]
    assert kept.dropped == again.dropped and kept.alerts == again.alerts


def test_a_recordings_feeds_say_recorded_not_connecting(ctx: zmq.Context, tmp_path: Path) -> None:
    """The subscriber's feeds line shows each feed's state: a recording's feeds are recorded,
    also after going back to a checkpoint."""
    path = record(tmp_path / "r.jsonl", 30)
    view = engine_at(ctx, path, [25, 3], checkpoint_every=10)
    assert [(feed.name, feed.state) for feed in view.feeds] == [("fs", "recorded")]


def test_the_observer_lists_another_feed_of_the_recording_from_the_start(
    ctx: zmq.Context, tmp_path: Path
) -> None:
    """`f` in the publisher pane under `--open`: the stream lists the other feed's messages up
    to the position, as if it had listed that feed from the first message."""
    path = tmp_path / "two.jsonl"
    feeds = [RecordedFeed("a", "tcp://127.0.0.1:5556"), RecordedFeed("b", "tcp://127.0.0.1:5557")]
    with RecordingWriter(path, feeds, start_ns=START_NS) as writer:
        for n in range(1, 11):
            writer.write(START_NS + n * NS_PER_S, "ab"[n % 2], [b"t", str(n).encode()])
    pair = ctx.socket(zmq.PAIR)
    try:
        streams = [StreamSpec("observer", track=False, feeds=("a",)), StreamSpec("sub")]
        engine = PlaybackEngine(ctx, pair, str(path), index_recording(path), streams)
        engine.command_seek(7)
        while engine.playback.advance():
            pass
        observer = engine.streams["observer"]
        assert [row.frames[1] for row in observer.view(ViewQuery(None, 10)).rows] == [
            b"2",
            b"4",
            b"6",
        ]
        engine.command_listed_feeds("observer", ("b",))
        while engine.playback.advance():
            pass
        view = observer.view(ViewQuery(None, 10))
        assert [row.frames[1] for row in view.rows] == [b"1", b"3", b"5", b"7"]
        assert [feed.name for feed in view.feeds] == ["b"]
        assert engine.streams["sub"].received == 7
    finally:
        pair.close(linger=0)
