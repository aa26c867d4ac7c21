"""The load generator: a process that keeps N requests in flight on one DEALER socket.

It runs as a child (`python -m benchmarks.loadgen`) so it never shares a core's GIL with what
it measures, and it stays up between measurements: each line on stdin is one JSON command,
each line on stdout the JSON result. A request goes out as `[seq, "", {"path": ...}]`, as a REQ
socket would frame it with one extra envelope frame: every REP, broker and worker on the way
echoes the envelope, so the reply is matched to its send time without decoding any JSON.

Command: `{"endpoint", "inflight", "start_at" (time.time() when the measured window opens;
requests flow from the moment the command arrives, as a warm-up), "duration", "payload",
"by_pid" (decode replies to group latencies by the answering pid), "timeout"}`.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from typing import Any

import zmq

from zmqtui.services import sockets


def run(ctx: zmq.Context, command: dict[str, Any]) -> dict[str, Any]:
    """Drive one measurement and return what it saw."""
    inflight: int = command["inflight"]
    payload: bytes = command["payload"].encode()
    by_pid: bool = command.get("by_pid", False)
    timeout_ms = int(command.get("timeout", 5.0) * 1000)
    perf = time.perf_counter
    window_start = perf() + (command["start_at"] - time.time())
    window_end = window_start + command["duration"]

    sock = ctx.socket(zmq.DEALER)
    sockets.configure(sock, max_message_bytes=None)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sockets.connect(sock, command["endpoint"])
    sent_at: dict[int, float] = {}
    latencies: list[int] = []
    pid_latencies: dict[int, list[int]] = defaultdict(list)
    next_seq = 0
    errors = replies = 0
    stalled = False

    def send_one() -> None:
        nonlocal next_seq
        next_seq += 1
        sent_at[next_seq] = perf()
        sock.send_multipart([b"%d" % next_seq, b"", payload])

    try:
        for _ in range(inflight):
            send_one()
        while True:
            if not sock.poll(timeout_ms, zmq.POLLIN):
                stalled = True
                break
            finished = False
            for _ in range(inflight):
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = perf()
                began = sent_at.pop(int(frames[0]), None)
                if began is None:
                    continue
                replies += 1
                if window_start <= now < window_end:
                    micros = int((now - began) * 1_000_000)
                    latencies.append(micros)
                    reply = frames[-1]
                    if b'"error"' in reply:
                        errors += 1
                    if by_pid:
                        pid_latencies[json.loads(reply)["pid"]].append(micros)
                if now >= window_end:
                    finished = True
                else:
                    send_one()
            if finished:
                break
        # Let what is still in flight come back, so the next measurement starts clean.
        drain_until = perf() + command.get("timeout", 5.0)
        while sent_at and perf() < drain_until:
            if sock.poll(100, zmq.POLLIN):
                frames = sock.recv_multipart()
                if sent_at.pop(int(frames[0]), None) is not None:
                    replies += 1
    finally:
        sock.close(linger=0)
    return {
        "completed": len(latencies),
        "rate": len(latencies) / command["duration"],
        "latencies_us": latencies,
        "errors": errors,
        "replies": replies,
        "lost": len(sent_at),
        "stalled": stalled,
        "by_pid": {str(pid): values for pid, values in pid_latencies.items()},
    }


def main() -> None:
    ctx = zmq.Context()
    try:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            if command.get("cmd") == "quit":
                break
            print(json.dumps(run(ctx, command)), flush=True)
    finally:
        ctx.destroy(linger=0)


if __name__ == "__main__":
    main()
