"""The subscriber: batches from a real publisher, prefixes, gaps and restarts."""

from __future__ import annotations

import asyncio

import pytest
import zmq
import zmq.asyncio
from helpers import wait_for
from hypothesis import given
from hypothesis import strategies as st

from zmqtui.captures import Capture, event_capture
from zmqtui.protocol import ChangeEvent
from zmqtui.services import sockets
from zmqtui.services.subscriber import (
    SequenceTracker,
    describe_raw,
    iter_event_batches,
    topic_for,
)

T = 1_700_000_000_000
"""A publication time, in ms."""


def event(file: str, seq: int | None = None, publisher: str | None = "A", **kw) -> ChangeEvent:
    timestamp = kw.pop("timestamp", T)
    return ChangeEvent(file=file, timestamp=timestamp, seq=seq, publisher=publisher, **kw)


class XPub:
    """The test's publisher: an XPUB, so the test knows when a subscription has arrived."""

    def __init__(self, sock: zmq.asyncio.Socket) -> None:
        self.sock = sock

    async def expect(self, message: bytes, timeout: float = 5.0) -> None:
        """Wait for the (un)subscribe `message` (b"\\x01" + topic or b"\\x00" + topic)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self.sock.poll(remaining * 1000):
                raise AssertionError(f"publisher never received {message!r}")
            if (await self.sock.recv_multipart()) == [message]:
                return

    async def send(self, *messages: bytes | list[bytes] | ChangeEvent) -> None:
        for message in messages:
            if isinstance(message, ChangeEvent):
                message = message.encode()
            await self.sock.send_multipart(message if isinstance(message, list) else [message])


@pytest.fixture
async def xpub(actx, ipc_endpoint):
    sock = actx.socket(zmq.XPUB)
    sockets.configure(sock)
    sock.bind(ipc_endpoint("xpub"))
    yield XPub(sock)
    sock.close(linger=0)


@pytest.fixture
async def consume(actx, xpub):
    """Runs `iter_event_batches` against `xpub` in a task, collecting what it yields."""
    tasks: list[asyncio.Task] = []

    def run(prefixes=("",), max_batch=500) -> list[list[Capture]]:
        batches: list[list[Capture]] = []
        endpoint = xpub.sock.getsockopt_string(zmq.LAST_ENDPOINT)

        async def collect() -> None:
            async for batch in iter_event_batches(actx, endpoint, prefixes, max_batch):
                batches.append(batch)

        tasks.append(asyncio.create_task(collect()))
        return batches

    yield run
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def files(batches: list[list[Capture]]) -> list[str]:
    return [r.event.file for batch in batches for r in batch if r.event]


class TestBatches:
    async def test_events_and_malformed_messages_arrive_in_order(self, consume, xpub):
        batches = consume()
        await xpub.expect(b"\x01")
        await xpub.send(
            event("a.txt", 1), b"\xff not json", [b"two", b"frames"], b"[]", event("b.txt", 2)
        )
        await wait_for(lambda: sum(map(len, batches)) == 5)
        received = [r for batch in batches for r in batch]
        assert [r.event.file if r.event else None for r in received] == [
            "a.txt", None, None, None, "b.txt"
        ]  # fmt: skip
        bad = received[1:4]
        assert all(r.error and r.event is None for r in bad)
        assert [r.frames for r in bad] == [(b"\xff not json",), (b"two", b"frames"), (b"[]",)]
        assert all(r.received_ms > 0 for r in received)

    async def test_batches_are_bounded(self, consume, xpub):
        batches = consume(max_batch=7)
        await xpub.expect(b"\x01")
        await xpub.send(*(event(f"f{i}", i + 1) for i in range(40)))
        await wait_for(lambda: len(files(batches)) == 40)
        assert max(map(len, batches)) <= 7
        assert files(batches) == [f"f{i}" for i in range(40)]

    async def test_only_what_the_prefixes_match(self, consume, xpub):
        batches = consume(["a/", "a/", "c/"])
        await xpub.expect(b"\x01" + topic_for("a/"))
        await xpub.expect(b"\x01" + topic_for("c/"))
        await xpub.send(event("a/1"), event("b/1"), event("c/1"))
        await wait_for(lambda: "c/1" in files(batches))
        assert files(batches) == ["a/1", "c/1"]


class TestTopics:
    def test_rules(self):
        assert topic_for("") == b""
        assert topic_for(b"\x01raw") == b"\x01raw"
        assert topic_for('{"type":"stats"') == b'{"type":"stats"'
        assert topic_for("src/") == b'{"type":"changed","file":"src/'
        assert topic_for('say "hi"') == b'{"type":"changed","file":"say \\"hi\\"'

    def test_matches_the_book_publishers_json(self):
        # JSON.stringify({type: "changed", file: filename, timestamp: Date.now()})
        book = b'{"type":"changed","file":"target.txt","timestamp":1700000000000}'
        assert book.startswith(topic_for("target"))

    @given(st.text(min_size=1).filter(lambda path: not path.startswith("{")), st.data())
    def test_a_path_prefix_matches_every_event_for_paths_it_starts(self, path, data):
        cut = data.draw(st.integers(min_value=1, max_value=len(path)))
        wire = ChangeEvent(file=path, timestamp=1, event="modified", seq=1).encode()
        assert wire.startswith(topic_for(path[:cut]))


class TestDecoding:
    @given(st.lists(st.binary(max_size=64), max_size=3))
    def test_never_raises(self, frames):
        received = event_capture(tuple(frames), received_ns=5_000_000)
        assert (received.event is None) != (received.error is None)
        assert received.frames == tuple(frames) and received.received_ms == 5

    def test_describe_raw_is_one_escaped_line(self):
        text = describe_raw([b"\x1b[31mred\nline" + b"x" * 300, b"\xff"], limit=20)
        assert "\n" not in text and "\x1b" not in text
        assert "(313 bytes)" in text and "\\xff" in text


class TestSequenceTracker:
    def test_in_order_and_book_events_give_no_notes(self):
        tracker = SequenceTracker()
        notes = [tracker.observe(event("f", seq)) for seq in (5, 6, 7)]
        notes.append(tracker.observe(event("f", None, publisher=None)))
        assert notes == [[], [], [], []]  # joining at seq 5 is not a gap

    def test_gap(self):
        tracker = SequenceTracker()
        tracker.observe(event("f", 1))
        assert tracker.observe(event("f", 2)) == []
        (note,) = tracker.observe(event("f", 5))
        assert note == "gap: missed 2 event(s) from publisher A (seq 3..4)"

    def test_new_publisher_after_a_pause_is_a_restart(self):
        tracker = SequenceTracker()
        tracker.observe(event("f", 8, pid=41, timestamp=T))
        (note,) = tracker.observe(event("f", 3, publisher="B", pid=42, timestamp=T + 2500))
        assert (
            note == "publisher restarted: B (pid 42) replaced A; missed 2 event(s) since it started"
        )
        assert tracker.observe(event("f", 4, publisher="B", pid=42, timestamp=T + 2600)) == []

    def test_new_publisher_in_the_same_process_is_a_restart_without_a_pause(self):
        tracker = SequenceTracker()
        tracker.observe(event("f", 8, pid=7, timestamp=T))
        (note,) = tracker.observe(event("f", 1, publisher="B", pid=7, timestamp=T))
        assert note == "publisher restarted: B (pid 7) replaced A"

    def test_publishers_sending_side_by_side_are_not_restarts(self):
        tracker = SequenceTracker()  # e.g. a subscriber joining a forwarder of two watchers
        assert tracker.observe(event("f", 57, pid=1, timestamp=T)) == []
        (note,) = tracker.observe(event("g", 12, publisher="B", pid=2, timestamp=T + 30))
        assert note == "new publisher: B (pid 2)"
        notes = [
            tracker.observe(event("f", 58, pid=1, timestamp=T + 40)),
            tracker.observe(event("g", 13, publisher="B", pid=2, timestamp=T + 45)),
        ]
        assert notes == [[], []]
        # known to carry several publishers: a new one after a pause is not taken for a restart
        (note,) = tracker.observe(event("h", 1, publisher="C", pid=3, timestamp=T + 9000))
        assert note == "new publisher: C (pid 3)"
        (note,) = tracker.observe(event("h", 1, publisher="D", pid=3, timestamp=T + 9000))
        assert note == "new publisher: D (pid 3)"  # nor is one from the same process

    def test_a_publisher_taken_for_restarted_that_speaks_again_is_corrected(self):
        tracker = SequenceTracker()  # a second watcher started while the first was quiet
        tracker.observe(event("f", 5, pid=1, timestamp=T))
        (note,) = tracker.observe(event("g", 1, publisher="B", pid=2, timestamp=T + 5000))
        assert note.startswith("publisher restarted: B (pid 2) replaced A")
        (note,) = tracker.observe(event("f", 6, pid=1, timestamp=T + 6000))
        assert (
            note == "publisher A is still running: B (pid 2) is another publisher, not its restart"
        )
        assert tracker.observe(event("g", 2, publisher="B", pid=2, timestamp=T + 6001)) == []

    def test_seq_going_back_is_a_restart(self):
        tracker = SequenceTracker()
        tracker.observe(event("f", 8, publisher=None, pid=7))
        (note,) = tracker.observe(event("f", 1, publisher=None, pid=7))
        assert "restarted" in note and "from 8 to 1" in note

    def test_notes_quote_a_hostile_publisher_id_escaped(self):
        hostile = "\x1b]0;PWNED\x07evil\x1b[2J\x1b[H\u009b\u202e"
        shown = "\\x1b]0;PWNED\\x07evil\\x1b[2J\\x1b[H\\x9b\\u202e"
        tracker = SequenceTracker()
        tracker.observe(event("f", 1, pid=1, timestamp=T))
        (new,) = tracker.observe(event("f", 1, publisher=hostile, pid=2, timestamp=T + 10))
        (gap,) = tracker.observe(event("f", 5, publisher=hostile, pid=2, timestamp=T + 20))
        (back,) = tracker.observe(event("f", 2, publisher=hostile, pid=2, timestamp=T + 30))
        assert new == f"new publisher: {shown} (pid 2)"
        assert gap == f"gap: missed 3 event(s) from publisher {shown} (seq 2..4)"
        assert back == f"publisher {shown} restarted: seq went back from 5 to 2"
        tracker = SequenceTracker()
        tracker.observe(event("f", 1, publisher=hostile, pid=1, timestamp=T))
        (restart,) = tracker.observe(event("f", 1, publisher="[b]B\n", pid=1, timestamp=T))
        assert restart == f"publisher restarted: [b]B\\n (pid 1) replaced {shown}"
        long = tracker.observe(event("f", 1, publisher="x" * 1000, pid=3, timestamp=T))
        assert len(long[0]) < 100

    def test_gaps_not_reported_when_filtering(self):
        tracker = SequenceTracker(report_gaps=False)
        tracker.observe(event("f", 1, timestamp=T))
        assert tracker.observe(event("f", 9, timestamp=T)) == []
        (note,) = tracker.observe(event("f", 4, publisher="B", timestamp=T + 1000))
        assert note == "publisher restarted: B replaced A"

    def test_falling_behind_is_noted_once_per_episode(self):
        tracker = SequenceTracker(late_after_ms=1000)
        published = 1_700_000_000_000
        old = event("f", timestamp=published)
        assert tracker.observe(old, received_ms=published + 10) == []
        (note,) = tracker.observe(old, received_ms=published + 1500)
        assert "1500 ms" in note
        assert tracker.observe(old, received_ms=published + 2500) == []
        tracker.observe(old, received_ms=published + 5)  # caught up
        assert len(tracker.observe(old, received_ms=published + 1200)) == 1


async def test_an_oversized_message_is_told_and_the_subscriber_connects_again(
    actx, tcp_endpoint
) -> None:
    """libzmq ends a session for good on a message over MAXMSGSIZE: the subscriber says so and
    connects again, so the next message arrives."""
    endpoint = tcp_endpoint()
    pub = actx.socket(zmq.PUB)
    sockets.configure(pub)
    pub.bind(endpoint)
    told: list[str] = []
    files: list[str] = []

    async def collect() -> None:
        async for batch in iter_event_batches(actx, endpoint, on_problem=told.append):
            files.extend(r.event.file for r in batch if r.event)

    task = asyncio.create_task(collect())

    async def arrives(file: str) -> None:
        for _ in range(200):  # a slow joiner misses the first ones
            await pub.send(event(file).encode())
            await asyncio.sleep(0.05)
            if file in files:
                return
        raise AssertionError(f"{file} never arrived")

    try:
        await arrives("before.txt")
        await pub.send(b"x" * (sockets.MAX_MESSAGE_BYTES + 1))
        await arrives("after.txt")
        assert any("gave it up" in text for text in told)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        pub.close(linger=0)
