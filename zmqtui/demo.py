"""A publisher of a mixed feed, to try `zmqtui subscribe` and the monitor on something other
than the book's events: `python -m zmqtui.demo [--bind EP] [--rate N] [--rounds N]`.

Each round publishes one message of each kind ZeroMQ feeds commonly carry: multipart
`[topic, msgpack]` quotes with `seq` and a ns timestamp, a multipart JSON log line, the ZeroMQ
guide's single-frame weather update (`"10001 23 45"`), a protobuf-encoded order, a binary blob
and one of the book's change events.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
import time

import msgpack
import orjson
import zmq

from zmqtui.config import ConfigError
from zmqtui.protocol import ChangeEvent
from zmqtui.services import sockets

DEFAULT_BIND = "tcp://127.0.0.1:60410"
KINDS = ("md.AAPL", "md.MSFT", "log.warn", "weather", "pb.order", "bin.blob", "book")
"""What each round sends, in order (the weather and book messages have no topic frame)."""


def round_of(index: int, now_ns: int | None = None) -> list[list[bytes]]:
    """The messages of round `index` (from 1), one per kind in `KINDS`."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    bid = 189.0 + (index % 50) / 100
    return [
        [b"md.AAPL", _quote("AAPL", bid, index, now_ns)],
        [b"md.MSFT", _quote("MSFT", bid * 2.2, index, now_ns)],
        [b"log.warn", orjson.dumps(_log(index, now_ns))],
        [f"{10001 + index % 3} {15 + index % 20} {40 + index % 30}".encode()],
        [b"pb.order", _order(index)],
        [b"bin.blob", bytes((index * 37 + i * 101) % 256 for i in range(24))],
        [ChangeEvent(f"notes/{index}.txt", now_ns // 1_000_000, "modified", index).encode()],
    ]


def _quote(symbol: str, bid: float, seq: int, now_ns: int) -> bytes:
    record = {"sym": symbol, "bid": round(bid, 2), "ask": round(bid + 0.02, 2), "size": 100}
    return msgpack.packb({**record, "seq": seq, "ts": now_ns})


def _log(index: int, now_ns: int) -> dict[str, object]:
    return {
        "level": "warn",
        "msg": f"disk {80 + index % 20}% full",
        "host": {"name": "db-1", "zone": "a"},
        "ts": now_ns // 1_000_000,
    }


def _order(index: int) -> bytes:
    """An order as protobuf: 1 id (varint), 2 symbol (string), 3 price (double), 4 a nested
    fill {1 qty, 2 venue}."""
    fill = _varint_field(1, 100 + index) + _len_field(2, b"XNAS")
    price = _varint(3 << 3 | 1) + struct.pack("<d", 189.25)
    return _varint_field(1, index) + _len_field(2, b"AAPL") + price + _len_field(4, fill)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _len_field(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zmqtui.demo", description=__doc__)
    parser.add_argument("--bind", default=DEFAULT_BIND, help=f"[default: {DEFAULT_BIND}]")
    parser.add_argument("--rate", type=float, default=2.0, help="rounds per second [default: 2]")
    parser.add_argument("--rounds", type=int, default=0, help="stop after N (0: never)")
    args = parser.parse_args(argv)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUB)
    try:
        sockets.configure(sock)
        bound = sockets.bind(sock, args.bind)
    except (sockets.EndpointError, ConfigError) as exc:
        print(f"zmqtui demo: {exc}", file=sys.stderr)
        ctx.destroy(linger=0)
        return 2
    print(f"Publishing a mixed feed on {bound} (pid {os.getpid()})", flush=True)
    index = 0
    try:
        while not args.rounds or index < args.rounds:
            index += 1
            for message in round_of(index):
                sock.send_multipart(message)
            time.sleep(1 / args.rate)
    except KeyboardInterrupt:
        pass
    finally:
        ctx.destroy(linger=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
