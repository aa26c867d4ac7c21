"""What `zmqtui tap` prints and publishes for a pair, pinned to the byte for frames that are
easy to get wrong: cut (in a UTF-8 character, in binary, with the pid past the cut), binary
(hex, msgpack, protobuf), control and bidi characters, JSON with a pid and lookalikes of it,
more frames than kept, clients named in hex, replies that never came. The expected output is
in `tests/tap_output/`; it changes only when the output is meant to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zmq

from zmqtui.commands.tap import print_pairs
from zmqtui.services.tap import KEPT_BYTES, Kept, Pair, PairPublisher

EXPECTED = Path(__file__).parent / "tap_output"
TIMEOUT_MS = 2500
WAIT_MS = 5000


def pair(
    n: int,
    client: bytes,
    request: list[bytes],
    reply: list[bytes] | None,
    latency_ms: float = 1.25,
    why: str | None = None,
) -> Pair:
    """The `n`th pair, each a second and a bit after the last (times vary in their millis)."""
    sent_ms = 1_767_225_600_000 + n * 1234.5678
    if reply is None:
        return Pair(sent_ms, client, Kept.of(request), None, None, why)
    return Pair(sent_ms, client, Kept.of(request), Kept.of(reply), latency_ms, why)


WIDE = json.dumps({"content": "é" * KEPT_BYTES, "pid": 4242}, ensure_ascii=False).encode()
PAIRS = [
    pair(
        0, b"client-1", [b'{"path": "a.txt"}'], [b'{"content": "hi", "pid": 7}'], latency_ms=1.2345
    ),
    pair(1, b"\x00\x80\x00\x00\x29", [b'{"path": "big.txt"}'], [WIDE], latency_ms=0.0004),
    pair(
        2,
        b"a\x1b[31m",
        [b"\x00\xff", b"\x08\x96\x01", b"\x82\xa1a\x01\xa1b\xc3"],
        [b"\xff" * 600],
        latency_ms=12345.6789,
    ),
    pair(
        3,
        "é-client".encode(),
        [b"\x1b[31mred", b"line1\nline2\ttab\r"],
        ["\u202eevil \u2028 sep".encode(), b"\xc2\x85c1"],
    ),
    pair(
        4,
        b"a-very-long-client-name-indeed",
        ["nbsp\u00a0zwj \U0001f468\u200d\U0001f469 [bold]x[/bold]".encode()],
        [b"a"] * 6,
    ),
    pair(5, b"", [b"", b"x" * 60], [], latency_ms=0.5),
    pair(6, b"c", [b"y" * 61], [b"z" * 100]),
    pair(7, b"c", ["é".encode() * 300], [b"ok\x1b" + b"." * 600]),
    pair(8, b"c", [b'{"pid": "x"}'], [b'{"pid": 12345678901}']),
    pair(9, b"c", [b'{"a": {"pid": 3}}'], [b'[{"pid": 5}]']),
    pair(10, b"c", [b'{"pid": 9} trailing'], [b'{"pid": 9} trailing']),
    pair(11, b"c", [b'{"a": "\\ud800"}'], [b'  {"a": 1}']),
    pair(12, b"c", [b"42", b"\xe9t\xe9"], ['{"x": "café 😀", "pid":  99 }'.encode()]),
    pair(13, b"worker\xff", [b'{"path": "never.txt"}'], None, why="timeout"),
    pair(14, b"c", [b"q"], None, why="evicted"),
    pair(15, b"c", [b"\x7f"], [b"\t"]),
    pair(16, b"c", [b"{" + b"x" * 600], [b'{"pid": 1' + b" " * 600 + b"}"]),
]


@pytest.mark.usefixtures("utc")
def test_each_pair_is_printed_as_a_line(capfdbinary) -> None:
    print_pairs(PAIRS, False, TIMEOUT_MS)
    assert capfdbinary.readouterr().out == (EXPECTED / "lines.txt").read_bytes()


def test_each_pair_is_printed_as_json_with_json(capfdbinary) -> None:
    print_pairs(PAIRS, True, TIMEOUT_MS)
    assert capfdbinary.readouterr().out == (EXPECTED / "lines.jsonl").read_bytes()


def test_each_pair_is_published_as_one_frame_of_json(ctx, ipc_endpoint) -> None:
    publisher = PairPublisher(ctx, ipc_endpoint("pairs"))
    sub = ctx.socket(zmq.SUB)
    try:
        sub.setsockopt(zmq.LINGER, 0)
        sub.subscribe(b"")
        sub.connect(publisher.bound)
        handshake = pair(0, b"handshake", [b"?"], [b"!"])
        while True:  # a PUB drops what it sends before the SUB has joined
            publisher.publish([handshake])
            if sub.poll(100):
                break
        publisher.publish(PAIRS)
        frames = []
        while len(frames) < len(PAIRS):
            assert sub.poll(WAIT_MS), f"{len(frames)} of {len(PAIRS)} pairs came"
            frame = sub.recv()
            if b'"client":"handshake"' not in frame:
                frames.append(frame)
    finally:
        sub.close(linger=0)
        publisher.close()
    assert frames == (EXPECTED / "published.jsonl").read_bytes().splitlines()
