"""The ingest engine: streams that count, list, filter and export; the child process that takes
a feed in and answers views; a connection libzmq gave up on, told and made again."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import orjson
import pytest
import zmq
import zmq.asyncio
from click.testing import CliRunner

from zmqtui.captures import (
    LISTED_FRAME_BYTES,
    NOTHING_CAPTURED,
    FeedView,
    ViewQuery,
    searchable_text,
)
from zmqtui.commands.diff import command as diff_command
from zmqtui.config import FeedConfig, Settings
from zmqtui.decoders import frames as frame_decoders
from zmqtui.feedfilter import QUERIED_FRAME_BYTES
from zmqtui.feedmeta import FieldNames
from zmqtui.format import MAX_SHOWN_CHARS
from zmqtui.protocol import MAX_MESSAGE_BYTES, ChangeEvent
from zmqtui.recording import Recorded, RecordedFeed, read_recording
from zmqtui.security import CurveProfile, use_profile, write_key_pair
from zmqtui.services import sockets
from zmqtui.services.ingest import (
    Engine,
    Feed,
    IngestProcess,
    Stream,
    StreamSpec,
    capture_of,
    stamp_of,
)
from zmqtui.services.replayer import Replayer
from zmqtui.services.runtime_dir import PREFIX


def wire(seq: int, file: str = "a.txt", at: int | None = None) -> list[bytes]:
    stamp = int(time.time() * 1000) if at is None else at
    return [ChangeEvent(file, stamp, "modified", seq, "p1", 7).encode()]


def now_ns() -> int:
    return time.time_ns()


def feed_of(*streams: Stream, name: str = "f", **config: Any) -> Feed:
    """A feed without a socket, handing its messages to `streams`."""
    return Feed(FeedConfig(name, f"inproc://{name}", **config), streams)


def test_other_messages_are_rows_decoded_as_asked_with_the_selected_ones_frames() -> None:
    stream = Stream("sub")
    feed = feed_of(stream)
    messages = [
        [b"md.A", msgpack.packb({"bid": 1.5})],
        [b'{"type": "changed", "path": "x"}'],  # claims to be an event: a malformed one
        wire(1)[0:1],
        [b"10001 23 45"],
    ]
    for frames in messages:
        feed.take(frames, now_ns())
    view = stream.view(ViewQuery(None, 10, decoders=((3, "hex"),)))
    first, claimed, event, weather = view.rows
    assert (first.topic, first.summary, first.error) == ("md.A", '{"bid":1.5}', None)
    assert claimed.error == "event has no string 'file'" and not claimed.other
    assert event.event is not None and event.event.seq == 1
    assert (weather.topic, weather.summary, weather.decoder) == ("10001", "32 33 20 34 35", "hex")
    assert view.not_events == 3
    # following, the newest is the selected one, whole: each frame's lines
    assert view.selected_index == 3 and view.selected is not None
    assert view.selected.parts[0].decoder == "hex"
    assert view.selected.parts[0].lines[0].startswith("00000000  32 33 20 34 35")
    chosen = stream.view(ViewQuery(0, 1, selected=0, decoders=((0, "json"),)))
    assert chosen.rows[0].failed and chosen.selected is not None
    assert chosen.selected.parts[0].failed and chosen.selected.parts[0].lines[0].startswith("✗")


def test_the_decoders_table_names_a_topics_decoder_and_d_still_overrides_it() -> None:
    stream = Stream("sub")
    feed = feed_of(stream, decoders=(("raw.", "hex"),))
    for frames in ([b"raw.x", b"hi"], [b"log", b"hi"]):
        feed.take(frames, now_ns())
    view = stream.view(ViewQuery(None, 10, decoders=((0, "text"),)))
    assert [row.summary for row in view.rows] == ["hi", "hi"]
    assert stream.view(ViewQuery(None, 10)).rows[0].summary == "68 69"


def test_stamp_is_judged_as_decode_event_does() -> None:
    assert stamp_of(wire(3)).seq == 3
    assert stamp_of([b'{"file": "a", "timestamp": 1.5, "seq": true}']).seq is None
    assert stamp_of([b'{"file": "a", "timestamp": NaN}']) is None
    assert stamp_of([b"not json"]) is None
    assert stamp_of([b'{"file": "a", "timestamp": 1}', b"two frames"]) is None


def test_a_stream_counts_every_message_and_notes_gaps() -> None:
    stream = Stream("sub", capacity=3)
    feed = feed_of(stream)
    for seq in (1, 2, 5, 6):
        feed.take(wire(seq), now_ns())
    feed.take([b"\xff"], now_ns())
    view = stream.view(ViewQuery(None, 10))
    assert (view.received, view.not_events, view.dropped, view.alerts) == (5, 1, 2, 1)
    assert (view.first, view.appended) == (2, 5)  # the oldest two fell out, counts did not
    assert [c.event.seq if c.event else None for c in view.rows] == [5, 6, None]
    assert "gap: missed 2 event(s)" in view.rows[0].notes[0]
    assert view.rows[2].other and view.rows[2].summary == "ff"
    assert view.last_lag_ms is not None


def test_a_stream_filters_what_it_holds_and_what_arrives() -> None:
    stream = Stream("sub")
    feed = feed_of(stream)
    for seq, file in enumerate(("src/a", "docs/b", "src/c"), start=1):
        feed.take(wire(seq, file), now_ns())
    stream.set_filter("/^src/")
    feed.take(wire(4, "src/d"), now_ns())
    feed.take(wire(5, "docs/e"), now_ns())
    view = stream.view(ViewQuery(None, 10))
    assert [c.event.file for c in view.rows] == ["src/a", "src/c", "src/d"]
    assert (view.shown, view.received, view.shown_at_least) == (3, 5, False)
    before = stream.view(ViewQuery(None, 10)).appended
    stream.set_filter("/([/")  # not a regex: the screen says so, the list shows everything
    view = stream.view(ViewQuery(None, 10))
    assert view.shown == 5 and len(view.rows) == 5
    assert view.first >= before, "row numbers only grow: a row number is never reused"


def test_the_filter_never_decodes_a_huge_message_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each filter keystroke judges every held message again: a text or regex filter reads only
    the first bytes of a multi-MB frame (what its row shows), `@feed` and `@topic` decode
    nothing, and a field query leaves frames over its bound out."""
    read: list[int] = []
    loads, auto = orjson.loads, frame_decoders._auto
    monkeypatch.setattr(orjson, "loads", lambda data: read.append(len(data)) or loads(data))
    monkeypatch.setattr(frame_decoders, "_auto", lambda data: read.append(len(data)) or auto(data))
    stream = Stream("sub")
    feed = feed_of(stream, name="market")
    huge_json = b'{"rows": [' + b",".join(b'{"id": 7}' for _ in range(300_000)) + b"]}"
    feed.take([b"big.text", b"needle " + b"lorem ipsum " * 250_000], now_ns())
    feed.take([b"big.json", huge_json], now_ns())
    feed.take([huge_json], now_ns())
    feed.take([b"md.A", b'{"id": 7}'], now_ns())
    read.clear()
    for text in ("needle", "/need+le/"):
        stream.set_filter(text)
        assert stream.shown == 1
    assert read and max(read) <= LISTED_FRAME_BYTES
    read.clear()
    stream.set_filter("@feed=market @topic~^big")
    assert stream.shown == 2
    assert read == [], "@feed and @topic decode nothing"
    stream.set_filter("id=7")
    assert stream.shown == 1, "only the small message is field-searched"
    assert read and max(read) <= QUERIED_FRAME_BYTES


def test_a_huge_malformed_event_is_searched_as_its_row_shows_it() -> None:
    stream = Stream("sub")
    feed = feed_of(stream)
    pad = b"x" * 3_000_000  # an event with every field, too large to be a valid one
    feed.take([wire(1)[0][:-1] + b', "pad": "' + pad + b'"}'], now_ns())
    malformed = capture_of(stream.held.items[-1])
    assert malformed.event is None and not malformed.other
    assert len(searchable_text(malformed)) <= MAX_SHOWN_CHARS + 1


def test_a_window_and_the_selected_row() -> None:
    stream = Stream("sub")
    feed = feed_of(stream)
    for seq in range(1, 21):
        feed.take(wire(seq), now_ns())
    view = stream.view(ViewQuery(start=5, count=3, selected=15))
    assert view.rows_start == 5 and [c.event.seq for c in view.rows] == [6, 7, 8]
    assert view.selected is not None and view.selected.event.seq == 16


def test_a_scripted_feed_is_made_once_whatever_feeds_the_stream_lists() -> None:
    stream = Stream("sub", feeds=("market",))
    weather = stream.source("weather")
    assert stream.source("weather") is weather and stream.sources["weather"] is weather


def test_a_feed_hands_each_stream_what_its_prefixes_select() -> None:
    observer, sub = Stream("observer", track=False), Stream("sub", ("b/",))
    feed = feed_of(observer, sub)
    assert feed.topics() == {b""}
    for seq, file in enumerate(("a/1", "b/2", "a/3"), start=1):
        feed.take(wire(seq, file), now_ns())
    assert (observer.received, sub.received) == (3, 1)


def test_export_writes_what_is_held_as_a_recording(tmp_path: Path) -> None:
    stream = Stream("sub")
    feed = Feed(FeedConfig("tcp://127.0.0.1:5556", "tcp://127.0.0.1:5556"), [stream])
    assert stream.export(tmp_path, time.time()).error == NOTHING_CAPTURED
    received_ns, change = now_ns(), wire(1)
    feed.take(change, received_ns)
    feed.take([b"md", b"\x00\xff"], received_ns + 1)
    result = stream.export(tmp_path, time.time())
    assert result.path is not None and result.written == 2
    header, messages = read_recording(result.path)
    assert header.feeds == (RecordedFeed("tcp://127.0.0.1:5556", "tcp://127.0.0.1:5556"),)
    assert header.start_ns == received_ns
    assert messages == [
        Recorded(received_ns, "tcp://127.0.0.1:5556", tuple(change)),
        Recorded(received_ns + 1, "tcp://127.0.0.1:5556", (b"md", b"\x00\xff")),
    ]


def test_an_export_opens_in_replay_and_diff(ctx: zmq.Context, tmp_path: Path) -> None:
    stream = Stream("sub")
    feed = feed_of(stream, name="md")
    sent = [[b"md.AAPL", b'{"bid": 1}'], [b"\xff\x00"], [b"log", b"", b"\x1b[31m"]]
    for index, frames in enumerate(sent):
        feed.take(frames, now_ns() + index)
    first = stream.export(tmp_path, time.time()).path
    feed.take([b"md.AAPL", b'{"bid": 2}'], now_ns())
    second = stream.export(tmp_path, time.time()).path
    assert first is not None and second is not None and first != second

    runner = CliRunner()
    assert runner.invoke(diff_command, [str(first), str(first)]).exit_code == 0
    differ = runner.invoke(diff_command, [str(first), str(second)])
    assert differ.exit_code == 1 and "only in B" in differ.output

    replayer = Replayer(ctx, first, "inproc://exported", speed=None, wait_subscribers=1)
    replayer.open()
    thread = threading.Thread(target=replayer.run, daemon=True)
    thread.start()
    sub = ctx.socket(zmq.SUB)
    try:
        sub.subscribe(b"")
        sub.connect("inproc://exported")
        got = []
        for _ in sent:
            assert sub.poll(5000), f"replayed {got}"
            got.append(sub.recv_multipart())
        assert got == sent
    finally:
        sub.close(linger=0)
        replayer.stop()
        thread.join(5)
        replayer.close()


async def collect(ingest: IngestProcess, replies: list[tuple]) -> None:
    """Every answer and report of the engine, in `replies` (until cancelled)."""
    while True:
        replies.append(await ingest.replies())


async def next_view(ingest: IngestProcess, stream: str = "sub") -> FeedView:
    while True:
        reply = await asyncio.wait_for(ingest.replies(), 10)
        if reply[0] == "view" and reply[1].stream == stream:
            return reply[1]


@pytest.mark.integration
@pytest.mark.parametrize("thread", [False, True], ids=["process", "thread"])
async def test_an_oversized_message_is_told_and_the_feed_taken_in_again(
    actx: zmq.asyncio.Context, tcp_endpoint, thread: bool
) -> None:
    """libzmq ends a session for good on a message over MAXMSGSIZE; the engine reconnects."""
    endpoint = tcp_endpoint()
    pub = actx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    ingest = IngestProcess(
        actx,
        [FeedConfig(endpoint, endpoint, max_message_bytes=MAX_MESSAGE_BYTES)],
        [StreamSpec("sub")],
        thread=thread,
    )
    ingest.start()
    replies: list[tuple] = []
    reader = asyncio.create_task(collect(ingest, replies))

    async def received(seq: int) -> bool:
        """Publish `seq` until a view lists it (a slow joiner misses the first ones)."""
        for _ in range(200):
            await pub.send(wire(seq)[0])
            ingest.send("view", "sub", ViewQuery(None, 5))
            await asyncio.sleep(0.05)
            views = [r[1] for r in replies if r[0] == "view"]
            if any(c.event and c.event.seq == seq for v in views[-3:] for c in v.rows):
                return True
        return False

    try:
        assert await received(1)
        await pub.send(b"x" * (MAX_MESSAGE_BYTES + 1))
        assert await received(2), "the feed never came back after an oversized message"
        problems = [r[1] for r in replies if r[0] == "problem"]
        assert any("gave it up" in text for text in problems)
    finally:
        reader.cancel()
        await ingest.stop()
        pub.close(linger=0)


@pytest.mark.integration
async def test_the_child_takes_a_curve_feed_in_with_this_process_keys(
    actx: zmq.asyncio.Context, tmp_path: Path
) -> None:
    """The keys the monitor uses (`--config` included) reach the ingest child process."""
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    server, client = (write_key_pair(tmp_path / name, name) for name in ("server", "client"))
    shutil.copy(client.public, authorized)
    server_profile = CurveProfile.from_settings(
        Settings(curve_secret=str(server.secret), curve_authorized=str(authorized))
    )
    client_profile = CurveProfile.from_settings(
        Settings(curve_secret=str(client.secret), curve_server=str(server.public))
    )
    pub = actx.socket(zmq.PUB)
    sockets.configure(pub)
    endpoint = sockets.bind(pub, "tcp://127.0.0.1:0", curve=server_profile)
    use_profile(client_profile)
    ingest = IngestProcess(actx, [FeedConfig(endpoint, endpoint)], [StreamSpec("sub")])
    try:
        ingest.start()
        views: list[FeedView] = []

        async def read() -> None:
            while True:
                reply = await ingest.replies()
                if reply[0] == "view":
                    views.append(reply[1])

        reader = asyncio.create_task(read())
        for _ in range(200):  # a slow joiner misses the first ones
            await pub.send(wire(1)[0])
            ingest.send("view", "sub", ViewQuery(None, 5))
            await asyncio.sleep(0.05)
            if views and views[-1].received:
                break
        reader.cancel()
        assert views and views[-1].received, "nothing arrived over CURVE"
    finally:
        use_profile(None)
        await ingest.stop()
        pub.close(linger=0)


@pytest.mark.integration
async def test_the_childs_directory_is_named_after_the_monitor_and_a_killed_ones_cleared(
    actx: zmq.asyncio.Context, tcp_endpoint, monkeypatch, short_tmp_path: Path
) -> None:
    """A monitor killed outright cannot remove its ingest's directory: the next one does."""
    monkeypatch.setenv("TMPDIR", str(short_tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    dead_pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    left = short_tmp_path / f"{PREFIX}{dead_pid}-abc"
    left.mkdir(mode=0o700)
    (left / "control").touch()
    ingest = IngestProcess(actx, [FeedConfig("f", tcp_endpoint())], [StreamSpec("sub")])
    ingest.start()
    try:
        assert not left.exists()
        (made,) = short_tmp_path.iterdir()
        assert made.name.startswith(f"{PREFIX}{os.getpid()}-")
    finally:
        await ingest.stop()
    assert list(short_tmp_path.iterdir()) == []


def test_a_stream_merges_its_feeds_each_read_by_its_own_rule() -> None:
    sub, observer = Stream("sub"), Stream("observer", track=False, feeds=("market",))
    market = feed_of(sub, observer, name="market", topic="frame0")
    weather = feed_of(sub, observer, name="weather", topic="token", subscribe=("100",))
    market.take([b"md.A", msgpack.packb({"bid": 2})], now_ns())
    weather.take([b"10001 23 45"], now_ns())
    market.take(wire(1), now_ns())
    view = sub.view(ViewQuery(None, 10))
    assert [(row.feed, row.topic) for row in view.rows] == [
        ("market", "md.A"),
        ("weather", "10001"),
        ("market", None),
    ]
    assert [(f.name, f.received) for f in view.feeds] == [("market", 2), ("weather", 1)]
    assert observer.received == 2 and [f.name for f in observer.view(ViewQuery()).feeds] == [
        "market"
    ]
    assert weather.topics() == {b"100"}, "a feed taken whole subscribes to what its config says"


def test_a_stream_lists_another_feed_when_told_and_the_sockets_follow(ctx: zmq.Context) -> None:
    """The publisher pane's stream moves from one feed to another: it starts again, lists only
    the new one, and each feed's socket subscribes to what its streams then take."""
    control = ctx.socket(zmq.PAIR)
    try:
        engine = Engine(
            ctx,
            control,
            [FeedConfig("a", "inproc://a"), FeedConfig("b", "inproc://b")],
            [StreamSpec("observer", track=False, feeds=("a",)), StreamSpec("sub", ("x/",))],
        )
        a, b = engine.feeds
        observer, sub = engine.streams["observer"], engine.streams["sub"]
        a.take(wire(1, "a/1"), now_ns())
        assert observer.received == 1 and a.topics() == {b""}
        before = b.topics()

        engine.command_listed_feeds("observer", ("b",))
        assert observer.received == 0 and not observer.view(ViewQuery(None, 5)).rows
        a.take(wire(2, "x/2"), now_ns())
        b.take(wire(1, "b/1"), now_ns())
        view = observer.view(ViewQuery(None, 5))
        assert [row.event.file for row in view.rows if row.event] == ["b/1"]
        assert [f.name for f in view.feeds] == ["b"]
        assert a.topics() != {b""} and b.topics() == {b""} != before
        assert sub.received == 1, "the subscriber pane's stream still takes both feeds"
    finally:
        control.close(linger=0)


@pytest.mark.integration
async def test_the_engine_takes_in_several_feeds_each_with_its_own_state_and_limit(
    actx: zmq.asyncio.Context, ipc_endpoint
) -> None:
    """Two publishers, one SUB each, merged in the subscriber's stream; a message over one
    feed's limit is counted for that feed alone, which connects again."""
    endpoints = {"small": ipc_endpoint("small"), "big": ipc_endpoint("big")}
    pubs = {}
    for name, endpoint in endpoints.items():
        pubs[name] = actx.socket(zmq.PUB)
        pubs[name].setsockopt(zmq.LINGER, 0)
        pubs[name].bind(endpoint)
    feeds = [
        FeedConfig("small", endpoints["small"], max_message_bytes=1000),
        FeedConfig("big", endpoints["big"]),
    ]
    ingest = IngestProcess(actx, feeds, [StreamSpec("sub")])
    ingest.start()
    replies: list[tuple] = []
    reader = asyncio.create_task(collect(ingest, replies))

    def latest() -> FeedView | None:
        views = [r[1] for r in replies if r[0] == "view"]
        return views[-1] if views else None

    async def until_listed(name: str, payload: bytes) -> None:
        """Publish on `name` until the list shows it (a slow joiner misses the first)."""
        deadline = time.monotonic() + 10
        while True:
            await pubs[name].send_multipart([b"t", payload])
            ingest.send("view", "sub", ViewQuery(None, 20))
            await asyncio.sleep(0.05)
            view = latest()
            if view and any((r.feed, r.summary) == (name, payload.decode()) for r in view.rows):
                return
            assert time.monotonic() < deadline, f"{name} never listed {payload!r}"

    try:
        await until_listed("small", b"1")
        await until_listed("big", b"2")
        await pubs["small"].send_multipart([b"t", b"x" * 2000])
        await pubs["big"].send_multipart([b"t", b"y" * 2000])
        await until_listed("small", b"3")  # connected again after libzmq gave it up
        view = latest()
        assert view is not None
        status = {f.name: f for f in view.feeds}
        assert (status["small"].given_up, status["big"].given_up) == (1, 0)
        assert any(r.feed == "big" and r.summary.startswith("yyyy") for r in view.rows)
        assert any(r[0] == "problem" and r[1].startswith("small: ") for r in replies)
        states = {r[1] for r in replies if r[0] == "state" and r[2] == "connected"}
        assert states == {"small", "big"}
    finally:
        reader.cancel()
        await ingest.stop()
        for pub in pubs.values():
            pub.close(linger=0)


def test_other_messages_give_lag_and_gaps_per_topic_from_their_fields() -> None:
    """A send time and `seq` in a msgpack or JSON payload (field names from the feed's config):
    a lag figure and column, gap notes per topic, counted as dropped."""
    sub, observer = Stream("sub"), Stream("observer", track=False)
    feed = feed_of(sub, observer, name="md")
    logs = feed_of(sub, name="logs", fields=FieldNames(("sent_at",), ("n",)))
    now = now_ns()
    for seq in (1, 2, 5):  # 3 and 4 never came
        feed.take([b"md.A", msgpack.packb({"bid": 1, "seq": seq, "ts": now - 250_000_000})], now)
    feed.take([b"md.B", msgpack.packb({"bid": 2, "seq": 9})], now)  # its own sequence
    logs.take([b'log.warn {"msg": "x", "sent_at": %d, "n": 4}' % (now // 1_000_000 - 40)], now)
    logs.take([b'log.warn {"msg": "y", "n": 7}'], now)
    view = sub.view(ViewQuery(None, 10))
    assert (view.dropped, view.alerts, view.max_lag_ms) == (2 + 2, 2, 250)
    assert view.last_lag_ms == 40
    notes = [row.notes for row in view.rows]
    assert notes[2] == ("gap: missed 2 message(s) on md.A of md (seq 3..4)",)
    assert notes[5] == ("gap: missed 2 message(s) on log.warn of logs (seq 5..6)",)
    assert [row.lag_ms for row in view.rows] == [250, 250, 250, None, 40, None]
    assert (view.rows[3].seq, view.rows[4].seq) == (9, 4)
    assert observer.view(ViewQuery(None, 10)).dropped == 0, "a stream that does not track"
    counted = {(row.feed, row.topic): row.missed for row in feed.topic_stats.rows()}
    assert counted[("md", b"md.A")] == 2
