"""A publisher that floods: change events as fast as it can, or paced at a fixed rate.

`python -m benchmarks.flood_publisher` binds an XPUB on a free loopback port, prints
`{"endpoint": ...}`, then takes one JSON command per stdin line and answers each with a line:

- `{"cmd": "wait_subscriber", "count": N}`: answers once N subscribers have subscribed (no
  slow-joiner loss);
- `{"cmd": "publish", "rate": N or 0 for as fast as possible, "duration": S}`: answers
  `{"sent", "elapsed", "first_seq", "last_seq"}`.

Messages are what `zmqtui watch` publishes (one JSON frame, `seq` counting up), formatted from
a byte template so that publishing, not JSON encoding, is what the flood costs.
"""

from __future__ import annotations

import json
import os
import sys
import time

import zmq

from zmqtui.services import sockets

TEMPLATE = (
    b'{"type":"changed","file":"flood/file-%d.txt","timestamp":%d,"event":"modified",'
    b'"seq":%d,"publisher":"flood","pid":%d}'
)
_PACE_S = 0.001
"""A paced publisher catches up with its schedule this often."""


class Flood:
    def __init__(self, sock: zmq.Socket) -> None:
        self.sock = sock
        self.seq = 0
        self.pid = os.getpid()

    def publish(self, rate: float, duration: float) -> dict[str, float | int]:
        sock, template, pid = self.sock, TEMPLATE, self.pid
        first = self.seq + 1
        began = time.perf_counter()
        end = began + duration
        sent = 0
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            due = int((now - began) * rate) + 1 if rate else sent + 1000
            stamp = int(time.time() * 1000)
            while sent < due:
                self.seq += 1
                sock.send(template % (self.seq % 100, stamp, self.seq, pid))
                sent += 1
            if rate:
                time.sleep(_PACE_S)
        return {
            "sent": sent,
            "elapsed": time.perf_counter() - began,
            "first_seq": first,
            "last_seq": self.seq,
        }


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
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.XPUB)
        sockets.configure(sock)
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        endpoint = sockets.bind(sock, "tcp://127.0.0.1:0")
        print(json.dumps({"endpoint": endpoint}), flush=True)
        flood = Flood(sock)
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            if command["cmd"] == "wait_subscriber":
                reply: dict[str, object] = {
                    "subscribed": wait_subscriber(sock, command.get("count", 1))
                }
            elif command["cmd"] == "publish":
                reply = flood.publish(command["rate"], command["duration"])
            else:
                break
            print(json.dumps(reply), flush=True)
    finally:
        ctx.destroy(linger=0)


if __name__ == "__main__":
    main()
