"""The tap's table of waiting requests under a crowd: `python -m benchmarks.tap_pending [N...]`.

Two figures for each N, the tap (`zmqtui.services.tap.Tap`) in this process in front of a
ROUTER the benchmark drives by hand:

- *pair*: N requests wait at once, then the service answers them all in order (oldest
  first); the time from the first reply sent to the tap having paired all N.
- *probe*: N requests wait on a service that never answers, with a 1 s timeout; once they are
  due, a new request is sent while the tap flags them: its delay until the tap forwards it, and
  the time from the N being due to all of them flagged.

Both grow with N only as fast as the table's removals of the oldest allow: a table whose
removals walk the whole crowd makes them quadratic.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable

import zmq

from zmqtui.services.tap import Tap

DEFAULT_SIZES = (10_000, 50_000)
TIMEOUT_MS = 1000
DEADLINE_S = 120.0


def wait(condition: Callable[[], bool], what: str, interval: float = 0.001) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(interval)


class Rig:
    """A tap between a DEALER client and a ROUTER service, both in this process."""

    def __init__(self, n: int, **options: int) -> None:
        self.scratch = tempfile.TemporaryDirectory(prefix="zmqtui-tap-pending-")
        self.ctx = zmq.Context()
        self.service = self._socket(zmq.ROUTER)
        self.service.bind(f"ipc://{self.scratch.name}/service")
        self.tap = Tap(
            self.ctx,
            f"ipc://{self.scratch.name}/tap",
            f"ipc://{self.scratch.name}/service",
            max_pending=n + 10,
            max_queued=n + 10,
            **options,
        )
        self.tap.start()
        self.client = self._socket(zmq.DEALER)
        self.client.connect(self.tap.bound)

    def _socket(self, kind: int) -> zmq.Socket:
        sock = self.ctx.socket(kind)
        sock.linger = 0
        sock.sndhwm = sock.rcvhwm = 0
        return sock

    def ask(self, n: int, body: bytes = b"x") -> None:
        for _ in range(n):
            self.client.send_multipart([b"", body])

    def close(self) -> None:
        self.tap.stop()
        self.ctx.destroy(linger=0)
        self.scratch.cleanup()


def pair(n: int) -> float:
    """Seconds to pair `n` waiting requests answered oldest first."""
    rig = Rig(n, timeout_ms=int(DEADLINE_S * 1000))
    try:
        rig.ask(n)
        requests = []
        while len(requests) < n:
            if rig.service.poll(DEADLINE_S * 1000) == 0:
                raise TimeoutError("the service got too few requests")
            requests.append(rig.service.recv_multipart())
        start = time.monotonic()
        for frames in requests:
            rig.service.send_multipart([*frames[:4], b"re"])
        wait(lambda: rig.tap.counts.pairs + rig.tap.counts.late >= n, "the pairs")
        if rig.tap.counts.late:
            raise RuntimeError("requests timed out before their replies")
        return time.monotonic() - start
    finally:
        rig.close()


def probe(n: int) -> tuple[float, float]:
    """Seconds a new request waits while `n` time out, and seconds to flag all `n`."""
    rig = Rig(n, timeout_ms=TIMEOUT_MS)
    stop = threading.Event()

    def sink() -> None:  # a service that reads and never answers
        while not stop.is_set():
            if rig.service.poll(50):
                while True:
                    try:
                        rig.service.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break

    reader = threading.Thread(target=sink, daemon=True)
    reader.start()
    try:
        rig.ask(n)
        wait(lambda: rig.tap.counts.requests >= n, "the requests")
        due = time.monotonic() + TIMEOUT_MS / 1000 + 0.1
        time.sleep(max(0.0, due - time.monotonic()))
        sent, before = time.monotonic(), rig.tap.counts.requests
        rig.ask(1, b"probe")
        wait(lambda: rig.tap.counts.requests > before, "the probe")
        delay = time.monotonic() - sent
        wait(lambda: rig.tap.counts.timeouts >= n, "the timeouts")
        return delay, time.monotonic() - due
    finally:
        stop.set()
        reader.join()
        rig.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tap_pending", description=__doc__)
    parser.add_argument("sizes", nargs="*", type=int, default=DEFAULT_SIZES, metavar="N")
    args = parser.parse_args(argv)
    print("| waiting | pair all, in order | probe delay while they time out | all flagged |")
    print("|---:|---:|---:|---:|")
    for n in args.sizes:
        paired = pair(n)
        delay, flagged = probe(n)
        print(f"| {n:,} | {paired:.3f} s | {delay:.3f} s | {flagged:.3f} s |", flush=True)


if __name__ == "__main__":
    main()
