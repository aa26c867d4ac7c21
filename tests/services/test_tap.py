"""The tap on its own: exact pairs in any reply order, flags, bounds, and what a pair shows."""

from __future__ import annotations

import json
import random

import pytest
import zmq
from helpers import EchoRouter, wait_for_sync

from zmqtui.services.tap import KEPT_BYTES, Kept, Pair, Tap, client_label

WAIT_MS = 5000


@pytest.fixture
def service(ctx, ipc_endpoint):
    """A ROUTER the test answers by hand."""
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, WAIT_MS)
    sock.bind(ipc_endpoint("service"))
    yield sock
    sock.close(linger=0)


def start_tap(ctx, ipc_endpoint, forward: str, **options) -> Tap:
    tap = Tap(ctx, ipc_endpoint("tap"), forward, **options)
    tap.start()
    return tap


def client(ctx, endpoint: str, kind: int = zmq.DEALER, identity: bytes | None = None):
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, WAIT_MS)
    if identity is not None:
        sock.setsockopt(zmq.ROUTING_ID, identity)
    sock.connect(endpoint)
    return sock


def drained(tap: Tap, count: int) -> list[Pair]:
    pairs: list[Pair] = []
    wait_for_sync(lambda: pairs.extend(tap.drain()) or len(pairs) >= count)
    return pairs


def test_pairs_are_exact_when_the_service_answers_in_reverse_order(ctx, ipc_endpoint, service):
    tap = start_tap(ctx, ipc_endpoint, service.getsockopt_string(zmq.LAST_ENDPOINT))
    try:
        dealer = client(ctx, tap.bound, identity=b"dealer-1")
        for n in range(5):
            dealer.send_multipart([b"", f"q{n}".encode()])
        requests = [service.recv_multipart() for _ in range(5)]
        assert all(len(frames) == 5 for frames in requests)  # tap, client, marker, "", body
        for frames in reversed(requests):
            service.send_multipart([*frames[:4], b"re:" + frames[4]])
        replies = [dealer.recv_multipart() for _ in range(5)]
        pairs = drained(tap, 5)
    finally:
        tap.stop()
    assert replies == [[b"", f"re:q{n}".encode()] for n in reversed(range(5))]
    assert [(p.request.frames, p.reply.frames) for p in pairs] == [
        ((f"q{n}".encode(),), (f"re:q{n}".encode(),)) for n in reversed(range(5))
    ]
    assert {client_label(p.client) for p in pairs} == {"dealer-1"}
    assert all(p.latency_ms is not None and p.latency_ms >= 0 for p in pairs)
    assert (tap.counts.requests, tap.counts.pairs, tap.counts.pending) == (5, 5, 0)


def test_a_req_client_through_the_tap_to_an_echo(ctx, ipc_endpoint):
    echo = EchoRouter(ctx, ipc_endpoint("echo"), lambda body: [b'{"pid": 42}', *body])
    tap = start_tap(ctx, ipc_endpoint, echo.endpoint)
    try:
        req = client(ctx, tap.bound, zmq.REQ)
        req.send_multipart([b"a", b"\x00\xff"])
        assert req.recv_multipart() == [b'{"pid": 42}', b"a", b"\x00\xff"]
        (pair,) = drained(tap, 1)
    finally:
        tap.stop()
        echo.close()
    assert pair.pid == 42
    assert pair.request.summary() == "text:a | hex:00ff"
    wire = pair.to_wire()
    assert (wire["request_bytes"], wire["reply_bytes"], wire["no_reply"]) == (3, 14, None)
    json.dumps(wire)


def test_silence_is_flagged_and_a_late_reply_still_reaches_its_client(ctx, ipc_endpoint, service):
    tap = start_tap(ctx, ipc_endpoint, service.getsockopt_string(zmq.LAST_ENDPOINT), timeout_ms=50)
    try:
        dealer = client(ctx, tap.bound)
        dealer.send_multipart([b"", b"slow"])
        frames = service.recv_multipart()
        (flagged,) = drained(tap, 1)
        service.send_multipart([*frames[:4], b"at last"])
        assert dealer.recv_multipart() == [b"", b"at last"]
        wait_for_sync(lambda: tap.counts.late == 1)
    finally:
        tap.stop()
    assert (flagged.reply, flagged.why, flagged.request.frames) == (None, "timeout", (b"slow",))
    assert tap.counts.timeouts == 1


def test_waiting_requests_are_bounded_the_oldest_given_up_first(ctx, ipc_endpoint, service):
    forward = service.getsockopt_string(zmq.LAST_ENDPOINT)
    tap = start_tap(ctx, ipc_endpoint, forward, max_pending=2)
    try:
        dealer = client(ctx, tap.bound)
        for n in range(3):
            dealer.send_multipart([b"", str(n).encode()])
        (evicted,) = drained(tap, 1)
    finally:
        tap.stop()
    assert (evicted.request.frames, evicted.why) == ((b"0",), "evicted")
    assert (tap.counts.evicted, tap.counts.pending) == (1, 2)


def test_a_reply_without_the_marker_is_forwarded_and_counted(ctx, ipc_endpoint, service):
    tap = start_tap(ctx, ipc_endpoint, service.getsockopt_string(zmq.LAST_ENDPOINT))
    try:
        dealer = client(ctx, tap.bound)
        dealer.send_multipart([b"", b"q"])
        frames = service.recv_multipart()
        service.send_multipart([frames[0], frames[1], b"", b"rebuilt envelope"])
        assert dealer.recv_multipart() == [b"", b"rebuilt envelope"]
        wait_for_sync(lambda: tap.counts.unmatched == 1)
    finally:
        tap.stop()
    assert tap.counts.pairs == 0


def test_a_pair_the_reader_does_not_take_is_lost_not_queued_forever(ctx, ipc_endpoint):
    echo = EchoRouter(ctx, ipc_endpoint("echo"))
    tap = start_tap(ctx, ipc_endpoint, echo.endpoint, max_queued=1)
    try:
        req = client(ctx, tap.bound, zmq.REQ)
        for _ in range(3):
            req.send(b"q")
            req.recv()
        wait_for_sync(lambda: tap.counts.pairs == 3)
        assert len(tap.drain()) == 1
    finally:
        tap.stop()
        echo.close()
    assert tap.counts.lost == 2


def test_a_big_frame_is_kept_cut_and_its_pid_read_from_the_tail():
    content = "é" * KEPT_BYTES  # two bytes each: the cut falls in the middle of one
    reply = json.dumps({"content": content, "pid": 4242}, ensure_ascii=False).encode()
    kept = Kept.of([reply])
    assert len(kept.frames[0]) == KEPT_BYTES and not kept.whole
    assert kept.pid() == 4242
    summary = kept.summary(20)
    assert summary.startswith('text:{"content": "éé') and summary.endswith("…")
    binary = Kept.of([b"\xff" * (KEPT_BYTES + 1)])
    assert binary.summary(8) == "hex:ffffffff…"


def test_more_frames_than_kept_are_counted():
    kept = Kept.of([b"a"] * 6)
    assert kept.summary() == "text:a | text:a | text:a | text:a | +2 frames"
    assert kept.size == 6


@pytest.mark.parametrize(
    ("identity", "label"),
    [(b"worker-1", "worker-1"), (b"\x00\x80\x1b\x5c\x2a", "00801b5c2a"), (b"a\x1b", "611b")],
)
def test_a_client_is_named_by_its_identity_printable_or_in_hex(identity, label):
    assert client_label(identity) == label


def test_a_service_not_yet_up_holds_requests_back_and_loses_none(ctx, tcp_endpoint):
    """The DEALER's queue fills while nobody answers: the tap stops reading clients (they queue
    on their side) rather than dropping, and forwards every request once the service is up."""
    forward = tcp_endpoint()
    tap = Tap(ctx, tcp_endpoint(), forward, timeout_ms=60_000)
    tap.start()
    dealer = client(ctx, tap.bound)
    dealer.setsockopt(zmq.SNDHWM, 0)
    count = 3000
    echo = None
    try:
        for n in range(count):
            dealer.send_multipart([b"", str(n).encode()])
        wait_for_sync(lambda: tap.counts.requests > 0)
        assert tap.counts.requests < count
        echo = EchoRouter(ctx, forward)
        replies = [dealer.recv_multipart() for _ in range(count)]
    finally:
        tap.stop()
        if echo is not None:
            echo.close()
    assert sorted(int(body) for _, body in replies) == list(range(count))
    assert (tap.counts.pairs, tap.counts.pending) == (count, 0)


def test_requests_answered_in_shuffled_order_are_each_paired(ctx, ipc_endpoint, service):
    """The loop's table of waiting requests under stress: a few requests left unanswered
    while thousands go through around them (their numbers meet in the table), then thousands
    waiting at once (the table grows with the unanswered ones in it), every batch answered in
    shuffled order; then the unanswered ones are answered too."""
    tap = start_tap(ctx, ipc_endpoint, service.getsockopt_string(zmq.LAST_ENDPOINT))
    shuffle = random.Random(14).shuffle
    dealer = client(ctx, tap.bound)
    dealer.setsockopt(zmq.SNDHWM, 0)
    answered: list[list[bytes]] = []

    def ask(numbers: range) -> list[list[bytes]]:
        for n in numbers:
            dealer.send_multipart([b"", str(n).encode()])
        return [service.recv_multipart() for _ in numbers]

    def answer(requests: list[list[bytes]]) -> None:
        for start in range(0, len(requests), 500):
            chunk = requests[start : start + 500]
            for frames in chunk:
                service.send_multipart([*frames[:4], b"re:" + frames[4]])
            assert [dealer.recv_multipart()[1] for _ in chunk] == [b"re:" + f[4] for f in chunk]
            answered.extend(chunk)

    try:
        stuck = ask(range(3))
        for start in range(3, 3003, 300):
            requests = ask(range(start, start + 300))
            shuffle(requests)
            answer(requests)
        requests = ask(range(3003, 6003))
        shuffle(requests)
        answer(requests)
        answer(stuck[::-1])
        pairs = drained(tap, 6003)
    finally:
        tap.stop()
    assert [p.request.frames for p in pairs] == [(frames[4],) for frames in answered]
    assert all(p.reply.frames == (b"re:" + p.request.frames[0],) for p in pairs)
    assert (tap.counts.pairs, tap.counts.pending, tap.counts.late) == (6003, 0, 0)


def test_a_lagging_reader_gets_pairs_in_order_up_to_the_bound(ctx, ipc_endpoint):
    """The queue of finished pairs grows while the reader lags, also once its oldest entries
    have wrapped around, keeps their order, and loses only what is past `max_queued`."""
    echo = EchoRouter(ctx, ipc_endpoint("echo"))
    tap = start_tap(ctx, ipc_endpoint, echo.endpoint, max_queued=1500)
    dealer = client(ctx, tap.bound)
    dealer.setsockopt(zmq.SNDHWM, 0)

    def ask(numbers: range) -> None:
        for n in numbers:
            dealer.send_multipart([b"", str(n).encode()])
        for _ in numbers:
            dealer.recv_multipart()
        wait_for_sync(lambda: tap.counts.pairs == numbers.stop)

    try:
        ask(range(1000))
        first = tap.drain(600)
        ask(range(1000, 2200))
        rest = tap.drain()
    finally:
        tap.stop()
        echo.close()
    assert [int(p.request.frames[0]) for p in first + rest] == list(range(2100))
    assert tap.counts.lost == 100


WIDE = "é" * KEPT_BYTES + '", "pid": 9}'


@pytest.mark.parametrize(
    "body",
    [
        [b"q"],
        [b""],
        [],
        [b"a"] * 6,
        [b"\xff" * (KEPT_BYTES + 100), b"", b"x"],
        [b'{"content": "' + WIDE.encode(), b"\x00" * (KEPT_BYTES * 3)],
    ],
    ids=["one", "empty-frame", "no-frame", "six", "binary-cut", "json-cut"],
)
def test_the_loop_keeps_a_body_as_kept_of_does(ctx, ipc_endpoint, body):
    echo = EchoRouter(ctx, ipc_endpoint("echo"))
    tap = start_tap(ctx, ipc_endpoint, echo.endpoint)
    try:
        dealer = client(ctx, tap.bound)
        dealer.send_multipart([b"", *body])
        assert dealer.recv_multipart() == [b"", *body]
        (pair,) = drained(tap, 1)
    finally:
        tap.stop()
        echo.close()
    assert pair.request == Kept.of(body) and pair.reply == Kept.of(body)


def test_a_message_without_an_envelope_is_kept_whole(ctx, ipc_endpoint):
    echo = EchoRouter(ctx, ipc_endpoint("echo"))
    tap = start_tap(ctx, ipc_endpoint, echo.endpoint)
    try:
        dealer = client(ctx, tap.bound)
        dealer.send_multipart([b"no", b"delimiter"])
        assert dealer.recv_multipart() == [b"no", b"delimiter"]
        (pair,) = drained(tap, 1)
    finally:
        tap.stop()
        echo.close()
    assert pair.request.frames == pair.reply.frames == (b"no", b"delimiter")


def test_malformed_replies_are_counted_and_the_tap_goes_on(ctx, ipc_endpoint, service):
    tap = start_tap(ctx, ipc_endpoint, service.getsockopt_string(zmq.LAST_ENDPOINT))
    try:
        dealer = client(ctx, tap.bound)
        dealer.send_multipart([b"", b"q1"])
        dealer.send_multipart([b"", b"q2"])
        (peer, who, marker, _, _), second = (service.recv_multipart() for _ in range(2))
        service.send_multipart([peer, who, marker])  # the marker, then nothing
        service.send_multipart([peer, b"m" * len(marker)])  # a marker's size, not the tap's
        service.send_multipart([peer, who, marker[:4] + b"\xff" * 8, b"", b"?"])  # no such one
        service.send_multipart([*second[:4], b"a2"])
        assert [dealer.recv_multipart() for _ in range(2)] == [[b"", b"?"], [b"", b"a2"]]
        wait_for_sync(lambda: tap.counts.pairs == 2)
        pairs = tap.drain()
    finally:
        tap.stop()
    assert [(p.request.frames, p.reply.frames) for p in pairs] == [
        ((b"q1",), ()),
        ((b"q2",), (b"a2",)),
    ]
    counts = tap.counts
    assert (counts.unmatched, counts.late, tap.failed) == (1, 1, None)


def test_removals_from_a_crowded_table_in_and_out_of_order_keep_every_pair(
    ctx, ipc_endpoint, service
):
    """The table of waiting requests emptied every way at once while full of neighbours: the
    oldest thousand given up on to make room, then the next thousand answered oldest first,
    then the rest in an interleaved order (odd ones newest first, even ones oldest first);
    each reply still finds its own request, and the ones given up on come back late."""
    tap = start_tap(
        ctx,
        ipc_endpoint,
        service.getsockopt_string(zmq.LAST_ENDPOINT),
        max_pending=2000,
        timeout_ms=600_000,  # none flagged however slow the machine
    )
    dealer = client(ctx, tap.bound)
    dealer.setsockopt(zmq.SNDHWM, 0)
    try:
        for n in range(3000):
            dealer.send_multipart([b"", str(n).encode()])
        requests = [service.recv_multipart() for _ in range(3000)]
        newest = requests[2000:]
        order = requests[1000:2000] + newest[1::2][::-1] + newest[::2] + requests[:1000]
        for start in range(0, len(order), 500):
            chunk = order[start : start + 500]
            for frames in chunk:
                service.send_multipart([*frames[:4], b"re:" + frames[4]])
            assert [dealer.recv_multipart()[1] for _ in chunk] == [b"re:" + f[4] for f in chunk]
        pairs = drained(tap, 3000)
    finally:
        tap.stop()
    evicted, answered = pairs[:1000], pairs[1000:]
    assert [p.request.frames[0] for p in evicted] == [str(n).encode() for n in range(1000)]
    assert {p.why for p in evicted} == {"evicted"}
    assert [p.request.frames for p in answered] == [(f[4],) for f in order[:2000]]
    assert all(p.reply.frames == (b"re:" + p.request.frames[0],) for p in answered)
    counts = tap.counts
    assert (counts.pairs, counts.evicted, counts.late, counts.pending) == (2000, 1000, 1000, 0)
