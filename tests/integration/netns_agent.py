"""Runs inside a test's network namespace, beside the broker: watches its stats, or loads it.

    python netns_agent.py watch STATS      one JSON line per stats snapshot, with its time
    python netns_agent.py load FRONTEND    paced Lazy Pirate requests until stdin closes, then
                                           one JSON line summing them up

Times are `time.monotonic()`, one clock for every process on the machine, so the test can
compare them with its own. CURVE comes from the environment, as for any zmqtui command.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import zmq
import zmq.asyncio

from zmqtui.protocol import decode_snapshot
from zmqtui.services import sockets
from zmqtui.services.requester import Requester

PACE_S = 0.02
"""Pause between one loop's requests: a steady trickle, not a flood."""
LOOPS = 2
TIMEOUT_MS = 400
TRIES = 10


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


async def watch(endpoint: str) -> None:
    ctx = zmq.asyncio.Context()
    sub = ctx.socket(zmq.SUB)
    sockets.configure(sub, max_message_bytes=None)
    sub.subscribe(b"")
    sockets.connect(sub, endpoint)
    try:
        while True:
            snapshot = decode_snapshot(await sub.recv_multipart())
            workers = [
                {"host": w.host, "pid": w.pid, "state": w.state, "requests": w.requests}
                for w in snapshot.workers
            ]
            emit({"t": time.monotonic(), "workers": workers, "broker": snapshot.broker})
    finally:
        ctx.destroy(linger=0)


async def load(endpoint: str) -> None:
    ctx = zmq.asyncio.Context()
    stop = asyncio.Event()
    results: list = []

    async def one_loop() -> None:
        async with Requester(ctx, endpoint, timeout_ms=TIMEOUT_MS, tries=TRIES) as requester:
            while not stop.is_set():
                results.append(await requester.request("target.txt"))
                await asyncio.sleep(PACE_S)

    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    tasks = [asyncio.create_task(one_loop()) for _ in range(LOOPS)]
    emit({"t": time.monotonic(), "started": True})
    await stdin_closed
    stop.set()
    await asyncio.gather(*tasks)
    ctx.destroy(linger=0)
    outcomes = Counter(result.outcome for result in results)
    by_pid = Counter(str(result.reply.pid) for result in results if result.outcome == "reply")
    emit(
        {
            "sent": len(results),
            "answered": outcomes["reply"],
            "lost": len(results) - outcomes["reply"],
            "retried": sum(1 for result in results if result.tries > 1),
            "slowest_ms": round(max((r.latency_ms for r in results), default=0.0)),
            "by_pid": dict(by_pid),
        }
    )


if __name__ == "__main__":
    role, endpoint = sys.argv[1:3]
    asyncio.run(watch(endpoint) if role == "watch" else load(endpoint))
