"""A publisher that floods: change events as fast as it can, or paced at a fixed rate.

`python -m benchmarks.flood_publisher [--feeds N]` binds N XPUBs (one feed each, default 1) on
free loopback ports, prints `{"endpoint": FIRST, "endpoints": [...]}`, then takes one JSON
command per stdin line and answers each with a line:

- `{"cmd": "wait_subscriber", "count": N}`: answers once N subscribers have subscribed to
  every feed (no slow-joiner loss);
- `{"cmd": "publish", "rate": N or 0 for as fast as possible, "duration": S, "kind": K}`:
  answers `{"sent", "elapsed", "first_seq", "last_seq"}`; `rate` is over all feeds together.

Kind `event` (the default) is what `zmqtui watch` publishes (one JSON frame, `seq` counting up),
formatted from a byte template so that publishing, not JSON encoding, is what the flood costs;
on the first feed only. Kind `msgpack` is an ordinary market feed's: multipart
`[md.SYMBOL, msgpack {sym, bid, ask, size, seq, ts}]` on `TOPICS` topics, `seq` counting up per
feed and topic, the messages dealt to the feeds in turn.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import time

import msgpack
import zmq

from zmqtui.services import sockets

TEMPLATE = (
    b'{"type":"changed","file":"flood/file-%d.txt","timestamp":%d,"event":"modified",'
    b'"seq":%d,"publisher":"flood","pid":%d}'
)
SYMBOLS = tuple(f"SYM{n}" for n in range(8))
TOPICS = tuple(f"md.{symbol}".encode() for symbol in SYMBOLS)
"""The msgpack feed's topics (on every feed)."""
_SEQ, _TS = msgpack.packb("seq") + b"\xcf", msgpack.packb("ts") + b"\xcf"
"""A quote's `seq` and `ts` keys, each followed by msgpack's uint64 marker."""
_U64 = struct.Struct(">Q").pack


def _quote_head(symbol: str, bid: float) -> bytes:
    """The start of a quote: a map of 6 whose first 4 entries are packed, `seq` and `ts` to
    follow (a byte template: the flood costs publishing, not msgpack encoding)."""
    fields = {"sym": symbol, "bid": bid, "ask": round(bid + 0.02, 2), "size": 100}
    return b"\x86" + b"".join(msgpack.packb(k) + msgpack.packb(v) for k, v in fields.items())


QUOTES = tuple(_quote_head(symbol, 100 + n * 1.5) for n, symbol in enumerate(SYMBOLS))
_PACE_S = 0.001
"""A paced publisher catches up with its schedule this often."""


class Flood:
    def __init__(self, socks: list[zmq.Socket]) -> None:
        self.socks = socks
        self.seq = 0
        self.pid = os.getpid()
        self.quote_seqs = [0] * (len(socks) * len(TOPICS))
        """The msgpack kind's `seq` per feed and topic."""

    def publish(self, rate: float, duration: float, kind: str = "event") -> dict[str, float | int]:
        send = self._send_quote if kind == "msgpack" else self._send_event
        first = self.seq + 1
        began = time.perf_counter()
        end = began + duration
        sent = 0
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            due = int((now - began) * rate) + 1 if rate else sent + 1000
            stamp_ns = time.time_ns()
            while sent < due:
                self.seq += 1
                send(stamp_ns)
                sent += 1
            if rate:
                time.sleep(_PACE_S)
        return {
            "sent": sent,
            "elapsed": time.perf_counter() - began,
            "first_seq": first,
            "last_seq": self.seq,
        }

    def _send_event(self, stamp_ns: int) -> None:
        seq = self.seq
        self.socks[0].send(TEMPLATE % (seq % 100, stamp_ns // 1_000_000, seq, self.pid))

    def _send_quote(self, stamp_ns: int) -> None:
        seq = self.seq
        feed, topic = seq % len(self.socks), seq // len(self.socks) % len(TOPICS)
        slot = feed * len(TOPICS) + topic
        self.quote_seqs[slot] += 1
        payload = QUOTES[topic] + _SEQ + _U64(self.quote_seqs[slot]) + _TS + _U64(stamp_ns)
        sock = self.socks[feed]
        sock.send(TOPICS[topic], zmq.SNDMORE)  # two sends cost a third of a send_multipart
        sock.send(payload)


def wait_subscribers(socks: list[zmq.Socket], count: int, timeout: float = 30.0) -> bool:
    """Wait for `count` subscriptions on every socket."""
    deadline = time.monotonic() + timeout
    return all(wait_subscriber(sock, count, deadline - time.monotonic()) for sock in socks)


def wait_subscriber(sock: zmq.Socket, count: int, timeout: float = 30.0) -> bool:
    """Wait for `count` subscriptions (XPUB_VERBOSE: each subscriber's, not just the first)."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if sock.poll(int(remaining * 1000), zmq.POLLIN):
            message = sock.recv()
            count -= message[:1] == b"\x01"
            if count <= 0:
                return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flood_publisher")
    parser.add_argument("--feeds", type=int, default=1, help="XPUB sockets, one feed each")
    options = parser.parse_args()
    ctx = zmq.Context()
    try:
        socks = []
        for _ in range(options.feeds):
            sock = ctx.socket(zmq.XPUB)
            sockets.configure(sock)
            sock.setsockopt(zmq.XPUB_VERBOSE, 1)
            socks.append(sock)
        endpoints = [sockets.bind(sock, "tcp://127.0.0.1:0") for sock in socks]
        print(json.dumps({"endpoint": endpoints[0], "endpoints": endpoints}), flush=True)
        flood = Flood(socks)
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            if command["cmd"] == "wait_subscriber":
                reply: dict[str, object] = {
                    "subscribed": wait_subscribers(socks, command.get("count", 1))
                }
            elif command["cmd"] == "publish":
                kind = command.get("kind", "event")
                reply = flood.publish(command["rate"], command["duration"], kind)
            else:
                break
            print(json.dumps(reply), flush=True)
    finally:
        ctx.destroy(linger=0)


if __name__ == "__main__":
    main()
