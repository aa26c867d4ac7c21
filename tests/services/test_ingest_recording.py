"""Recording in the ingest engine (the monitor's record key): every message of the feed, frames
exactly, whatever the panes subscribe to; progress while it runs; a file that cannot be made."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from helpers import mixed_messages

from zmqtui.captures import RecordingStatus
from zmqtui.config import FeedConfig
from zmqtui.recording import RecordedFeed, RecordingWriter, read_recording
from zmqtui.services.ingest import Feed, IngestProcess, Stream, StreamSpec
from zmqtui.services.ingest_recording import IngestRecording

MESSAGES = 10_000
TIMEOUT_S = 20.0


def test_the_feed_writes_every_message_and_subscribes_to_everything_while_recording(
    tmp_path: Path,
) -> None:
    stream = Stream("sub", ("{",))
    feed = Feed(FeedConfig("md", "tcp://127.0.0.1:5556"), [stream])
    assert feed.topics() == {b"{"}
    writer = RecordingWriter(tmp_path / "r.jsonl", [feed.recorded()])
    feed.recording = IngestRecording(writer, 1)
    assert feed.topics() == {b""}
    feed.take([b'{"a": 1}'], 10)
    feed.take([b"log", b"\xff"], 11)
    status = feed.recording.finish()
    assert status == RecordingStatus(1, writer.path, 2, writer.path.stat().st_size, done=True)
    assert stream.received == 1, "the pane's stream still lists what it selects"
    recorded = [m.frames for m in read_recording(writer.path)[1]]
    assert recorded == [(b'{"a": 1}',), (b"log", b"\xff")]


def test_a_write_that_fails_ends_the_recording_and_says_why() -> None:
    writer = RecordingWriter("/dev/full", [RecordedFeed("f")], overwrite=True)  # a full disk
    recording = IngestRecording(writer, 7)
    recording.write(1, "f", [b"x" * (1 << 20)])
    assert recording.due(), "at once"
    status = recording.report()
    assert not status.done and status.error == "writing /dev/full failed: No space left on device"
    assert recording.finish().done


async def statuses(ingest: IngestProcess, seen: list[RecordingStatus]) -> None:
    while True:
        reply = await ingest.replies()
        if reply[0] == "recording":
            seen.append(reply[1])


async def until(seen: list[RecordingStatus], test) -> RecordingStatus:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        for status in seen:
            if test(status):
                return status
        await asyncio.sleep(0.02)
    raise AssertionError(f"not seen; statuses: {seen[-3:]}")


async def subscribed_to_everything(xpub: zmq.asyncio.Socket) -> None:
    """Until the engine's SUB subscribes to everything (its first subscription is the pane's)."""
    while (await asyncio.wait_for(xpub.recv(), TIMEOUT_S)) != b"\x01":
        pass


def publisher(actx: zmq.asyncio.Context, endpoint: str) -> zmq.asyncio.Socket:
    """An XPUB that never drops (a send waits for the engine) and hears every subscription."""
    xpub = actx.socket(zmq.XPUB)
    xpub.setsockopt(zmq.LINGER, 0)
    xpub.setsockopt(zmq.XPUB_NODROP, 1)
    xpub.setsockopt(zmq.SNDHWM, 0)
    xpub.bind(endpoint)
    return xpub


@pytest.mark.integration
@pytest.mark.parametrize(
    ("thread", "compressed"), [(False, True), (True, False)], ids=["process-zst", "thread-jsonl"]
)
async def test_records_10k_mixed_messages_of_two_feeds_byte_identical_whatever_the_pane_lists(
    actx: zmq.asyncio.Context, ipc_endpoint, tmp_path: Path, thread: bool, compressed: bool
) -> None:
    feeds = [FeedConfig(name, ipc_endpoint(name)) for name in ("md", "logs")]
    xpubs = [publisher(actx, feed.endpoint) for feed in feeds]
    ingest = IngestProcess(actx, feeds, [StreamSpec("sub", ("md.AAPL",))], thread=thread)
    ingest.start()
    seen: list[RecordingStatus] = []
    reader = asyncio.create_task(statuses(ingest, seen))
    sent = mixed_messages(MESSAGES)
    try:
        for xpub in xpubs:  # the pane's subscription
            await asyncio.wait_for(xpub.recv(), TIMEOUT_S)
        ingest.send("record", str(tmp_path / "out"), time.time(), compressed, 1)
        for xpub in xpubs:
            await subscribed_to_everything(xpub)
        started = await until(seen, lambda s: s.path is not None)
        assert started.path is not None and started.path.name.startswith("zmqtui-recording-")
        assert started.path.name.endswith(".jsonl.zst" if compressed else ".jsonl")

        for index, frames in enumerate(sent):
            await xpubs[index % 2].send_multipart(frames)
        await until(seen, lambda s: s.messages == MESSAGES)
        ingest.send("record_stop")
        done = await until(seen, lambda s: s.done)
        for xpub in xpubs:  # subscribed as before: no longer to everything
            while (await asyncio.wait_for(xpub.recv(), TIMEOUT_S)) != b"\x00":
                pass
    finally:
        reader.cancel()
        await ingest.stop()
        for xpub in xpubs:
            xpub.close(linger=0)

    assert done.error is None and done.messages == MESSAGES
    assert done.path is not None and done.file_bytes == done.path.stat().st_size
    sizes = [s.file_bytes for s in seen if not s.done]
    assert sizes == sorted(sizes), "progress only grows"
    header, messages = read_recording(done.path)
    assert header.feeds == tuple(RecordedFeed(feed.name, feed.endpoint) for feed in feeds)
    for number, feed in enumerate(feeds):
        recorded = [list(m.frames) for m in messages if m.feed == feed.name]
        assert recorded == sent[number::2], f"{feed.name}: every frame, in order"


@pytest.mark.integration
async def test_a_directory_that_cannot_be_made_is_told(
    actx: zmq.asyncio.Context, ipc_endpoint, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("not a directory")
    feeds = [FeedConfig("f", ipc_endpoint("feed"))]
    ingest = IngestProcess(actx, feeds, [StreamSpec("sub")], thread=True)
    ingest.start()
    seen: list[RecordingStatus] = []
    reader = asyncio.create_task(statuses(ingest, seen))
    try:
        ingest.send("record", str(tmp_path / "file" / "out"), time.time(), False, 3)
        status = await until(seen, lambda s: s.done)
    finally:
        reader.cancel()
        await ingest.stop()
    assert status.record_id == 3 and status.path is None
    assert status.error is not None and "cannot record to" in status.error
