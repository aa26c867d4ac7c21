"""`zmqtui record` and `zmqtui replay` as the user runs them: subprocesses on free ports."""

from __future__ import annotations

import signal
import time

import pytest
import zmq
from helpers import CHILD_TIMEOUT, Lines, mixed_messages, stop

from zmqtui.recording import read_recording

MESSAGES = 10_000
TIMEOUT_MS = 10_000


def xpub_on(ctx: zmq.Context, endpoint: str) -> zmq.Socket:
    """A publisher that never drops (a send waits for the recorder instead)."""
    sock = ctx.socket(zmq.XPUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.XPUB_NODROP, 1)
    sock.bind(endpoint)
    return sock


def wait_subscribed(sock: zmq.Socket) -> None:
    """Until a subscription arrives (an unsubscription, from a connection lost, is passed)."""
    while True:
        assert sock.poll(TIMEOUT_MS), "the recorder never subscribed"
        if sock.recv()[:1] == b"\x01":
            return


@pytest.mark.integration
@pytest.mark.parametrize("name", ["run.jsonl", "run.jsonl.zst"])
def test_record_then_replay_gives_every_frame_back_in_order(
    processes, tcp_endpoint, ctx, tmp_path, name
):
    sent = mixed_messages(MESSAGES)
    out = tmp_path / name
    source = tcp_endpoint()
    pub = xpub_on(ctx, source)
    recorder = processes.start(
        "record", "--connect", source, "--out", str(out), "--count", str(MESSAGES)
    )
    wait_subscribed(pub)
    for message in sent:
        pub.send_multipart(message)
    assert recorder.wait(timeout=CHILD_TIMEOUT * 3) == 0, recorder.stderr.read()
    report = recorder.stdout.read()
    assert f"recorded {MESSAGES:,} messages" in report and str(out) in report
    header, recorded = read_recording(out)
    assert [feed.endpoint for feed in header.feeds] == [source]
    assert [list(message.frames) for message in recorded] == sent

    target = tcp_endpoint()
    replay = processes.start(
        "replay", str(out), "--bind", target, "--speed", "max", "--wait-subscribers", "1"
    )
    errors = Lines(replay.stderr)
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.subscribe(b"")
    sub.connect(target)
    received = []
    while len(received) < MESSAGES:
        assert sub.poll(TIMEOUT_MS), f"{len(received)} received; replay said {errors.lines}"
        received.append(sub.recv_multipart())
    assert received == sent
    assert replay.wait(timeout=CHILD_TIMEOUT) == 0
    assert f"replayed {MESSAGES:,} messages" in replay.stdout.read()
    assert any("waiting for 1 subscriber" in line for line in errors.finish())


@pytest.mark.integration
def test_record_names_feeds_counts_oversized_and_keeps_files(
    processes, tcp_endpoint, ctx, tmp_path
):
    out = tmp_path / "two.jsonl"
    first, second = tcp_endpoint(), tcp_endpoint()
    pub_a, pub_b = xpub_on(ctx, first), xpub_on(ctx, second)
    recorder = processes.start(
        "record",
        *("--connect", first, "--name", "a", "--connect", second, "--name", "b\x1b[31m"),
        *("--subscribe", "md.", "--out", str(out), "--max-message-bytes", "1000"),
    )
    errors = Lines(recorder.stderr)
    wait_subscribed(pub_a)
    wait_subscribed(pub_b)
    pub_a.send_multipart([b"md.A", b"1"])
    pub_a.send_multipart([b"other", b"not subscribed"])
    pub_b.send_multipart([b"md.B", b"x" * 2000])  # over the limit: libzmq drops the connection
    # the recorder connects again after 1.5 s; an XPUB notices the connection lost only when
    # called, so it is watched meanwhile (else the new subscription would look like the old)
    assert pub_b.poll(TIMEOUT_MS) and pub_b.recv() == b"\x00md."
    wait_subscribed(pub_b)
    errors.wait("gave it up")
    pub_b.send_multipart([b"md.B", b"2"])
    deadline = time.monotonic() + CHILD_TIMEOUT
    while len(read_recording(out)[1]) < 2:  # written to disk within a second
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert stop(recorder, signal.SIGTERM) == 0
    report = recorder.stdout.read()
    assert "recorded 2 messages" in report
    assert "over the size limit: 1 from b\\x1b[31m" in report
    assert "\x1b" not in report + "".join(errors.finish())
    header, recorded = read_recording(out)
    assert [(f.name, f.subscriptions) for f in header.feeds] == [
        ("a", ("md.",)),
        ("b\x1b[31m", ("md.",)),
    ]
    assert [(m.feed, m.frames) for m in recorded] == [
        ("a", (b"md.A", b"1")),
        ("b\x1b[31m", (b"md.B", b"2")),
    ]

    before = out.read_bytes()
    again = processes.start("record", "--connect", first, "--out", str(out), "--count", "1")
    assert again.wait(timeout=CHILD_TIMEOUT) == 2
    assert "exists" in again.stderr.read() and out.read_bytes() == before
