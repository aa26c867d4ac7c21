"""The recorder in-process (inproc publishers on the test's context): count, duration, feeds."""

from __future__ import annotations

import threading

import zmq

from zmqtui.recording import RecordedFeed, RecordingWriter, read_recording
from zmqtui.services.recorder import Recorder

TIMEOUT_MS = 5000


def publisher(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    return sock


def subscribed(sock: zmq.Socket) -> None:
    assert sock.poll(TIMEOUT_MS) and sock.recv()[:1] == b"\x01"


def test_two_feeds_until_the_count(ctx, tmp_path):
    feeds = [RecordedFeed("a", "inproc://a", ("md.",)), RecordedFeed("b", "inproc://b")]
    pubs = [publisher(ctx, feed.endpoint) for feed in feeds]
    out = tmp_path / "r.jsonl.zst"
    with RecordingWriter(out, feeds) as writer:
        recorder = Recorder(ctx, writer, feeds, count=3)
        result = {}
        thread = threading.Thread(target=lambda: result.update(done=recorder.run()), daemon=True)
        thread.start()
        try:
            for pub in pubs:
                subscribed(pub)
            pubs[0].send_multipart([b"log", b"not subscribed"])
            pubs[0].send_multipart([b"md.A", b"\xff"])
            pubs[1].send_multipart([b"", b"2"])
            pubs[1].send(b"3")
            pubs[1].send(b"one too many")
            thread.join(timeout=TIMEOUT_MS / 1000)
        finally:  # a recorder that never reached its count is stopped before its writer closes
            recorder.stop()
            thread.join(timeout=TIMEOUT_MS / 1000)
    assert result["done"].stopped_by == "count" and result["done"].messages == 3
    recorded = read_recording(out)[1]
    assert sorted((m.feed, m.frames) for m in recorded) == [
        ("a", (b"md.A", b"\xff")), ("b", (b"", b"2")), ("b", (b"3",))
    ]  # fmt: skip
    assert [m.received_ns for m in recorded] == sorted(m.received_ns for m in recorded)


def test_a_duration_or_a_stop_ends_it(ctx, tmp_path):
    feeds = [RecordedFeed("a", "inproc://quiet")]
    publisher(ctx, "inproc://quiet")
    with RecordingWriter(tmp_path / "r.jsonl", feeds) as writer:
        assert Recorder(ctx, writer, feeds, duration=0.2).run().stopped_by == "duration"
        recorder = Recorder(ctx, writer, feeds)
        recorder.stop()
        assert recorder.run().stopped_by == "stopped"
