"""The monitor under a flood, headless: the real app (`ZmqtuiApp` on `ZmqBridge`) in `run_test`.

`python -m benchmarks.flood_app --sub ENDPOINT [--sub ENDPOINT...]` attaches the app to one
publisher or several feeds, as `zmqtui --sub ENDPOINT...` does, prints `{"ready": ...}` once its
SUB sockets are connected, then takes one JSON command per stdin line:

- `{"cmd": "begin"}`: once nothing has arrived for a second (an earlier phase's backlog is in),
  start a phase (counts, frames and key presses from now on); answers with the resident memory;
- `{"cmd": "end", "sent": N, "last_seq": S}`: stop pressing keys, wait until the message with
  `seq` S (a change event's) or N messages have arrived (or nothing has for a while), answer
  with the phase's figures.

During a phase a key press (`p`, pause/follow, in the subscriber pane) goes in every ~100 ms
through the driver, as a terminal's would; its latency runs from that moment to the first
frame the compositor hands to the driver after the pane's state flipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import psutil
from textual import events

from zmqtui.config import FeedConfig
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.bridge import ZmqBridge
from zmqtui.tui.messages import FeedViewed

PRESS_EVERY_S = 0.1
QUIET_S = 1.0
"""An `end` stops waiting once no message has arrived for this long (the last ones were lost)."""


class Probe:
    """Counts what reaches the app and times frames and key presses."""

    def __init__(self, app: ZmqtuiApp) -> None:
        self.app = app
        self.delivered = 0
        """Messages the bridge handed the app for the subscriber pane (message hook)."""
        self.last_seq: int | None = None
        self.last_arrival = time.perf_counter()
        self.frames: list[float] = []
        self.pressed_at: float | None = None
        self.state_before: bool | None = None
        self.latencies_ms: list[float] = []
        self.handled_ms: list[float] = []
        """Of each latency, the part until the app handled the key (the rest waits for a frame)."""
        self.handled_at: float | None = None

    def hook(self, message: object) -> None:
        if not isinstance(message, FeedViewed) or message.view.stream != "sub":
            return
        view = message.view
        if view.received != self.delivered:
            self.delivered = view.received
            self.last_arrival = time.perf_counter()
        for capture in reversed(view.rows):
            if capture.event is not None and capture.event.seq is not None:
                self.last_seq = capture.event.seq
                break

    def install(self) -> None:
        display = self.app._display

        def counted(screen, renderable) -> None:
            if renderable is not None:
                now = time.perf_counter()
                self.frames.append(now)
                if self.pressed_at is not None and self.following() != self.state_before:
                    self.latencies_ms.append((now - self.pressed_at) * 1000)
                    handled = self.handled_at or now
                    self.handled_ms.append((handled - self.pressed_at) * 1000)
                    self.pressed_at = self.handled_at = None
            display(screen, renderable)

        self.app._display = counted  # type: ignore[method-assign]
        log = self.app.subscriber_pane.log_view
        self.app.subscriber_pane.watch(log, "following", self._flipped, init=False)

    def _flipped(self, _following: bool) -> None:
        if self.pressed_at is not None and self.handled_at is None:
            self.handled_at = time.perf_counter()

    def following(self) -> bool:
        return self.app.subscriber_pane.log_view.following

    def press(self) -> None:
        if self.pressed_at is not None:
            return  # the previous press has not reached the screen yet
        driver = self.app._driver
        assert driver is not None
        key = events.Key("p", "p")
        key.set_sender(self.app)
        self.state_before = self.following()
        self.pressed_at = time.perf_counter()
        driver.send_message(key)


async def presser(probe: Probe) -> None:
    while True:
        await asyncio.sleep(PRESS_EVERY_S)
        probe.press()


def rss() -> int:
    return psutil.Process().memory_info().rss


def cpu_seconds(pid: int | None = None) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def ingest_cpu_seconds(app: ZmqtuiApp) -> float | None:
    """The ingest child's CPU time (None when it runs on a thread of the app's process)."""
    ingest = getattr(app.backend, "_ingest", None)
    process = getattr(ingest, "process", None)
    if process is None:
        return None
    try:
        return cpu_seconds(process.pid)
    except psutil.Error:
        return None


async def commands() -> asyncio.Queue[dict]:
    """stdin lines as decoded commands, read on a thread."""
    queue: asyncio.Queue[dict] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def read() -> None:
        for line in sys.stdin:
            if line.strip():
                loop.call_soon_threadsafe(queue.put_nowait, json.loads(line))
        loop.call_soon_threadsafe(queue.put_nowait, {"cmd": "quit"})

    loop.run_in_executor(None, read)
    return queue


async def run(
    endpoints: list[str], size: tuple[int, int], settle: float, ingest_thread: bool
) -> None:
    feeds = [FeedConfig(endpoint, endpoint) for endpoint in endpoints] if len(endpoints) > 1 else []
    bridge = ZmqBridge(Endpoints(pub=endpoints[0]), ingest_thread=ingest_thread, feeds=feeds)
    app = ZmqtuiApp(bridge, standalone=True)
    probe = Probe(app)
    async with app.run_test(size=size, message_hook=probe.hook) as pilot:
        probe.install()
        deadline = time.monotonic() + 30
        while app.connection_states.get("sub") != "connected":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the SUB socket did not connect: {app.connection_states}")
            await pilot.pause(0.05)
        await pilot.pause(settle)  # past the start-up garbage collection (standalone mode)
        print(json.dumps({"ready": True, "rss": rss()}), flush=True)
        queue = await commands()
        while True:
            command = await queue.get()
            if command["cmd"] == "begin":
                reply = await begin(probe)
                pressing = asyncio.create_task(presser(probe))
            elif command["cmd"] == "end":
                pressing.cancel()
                reply = await end(probe, command["sent"], command["last_seq"])
            else:
                break
            print(json.dumps(reply), flush=True)


_phase: dict[str, float | int] = {}


async def begin(probe: Probe) -> dict[str, object]:
    """Wait out what is still arriving from an earlier phase, then start counting."""
    deadline = time.perf_counter() + 60
    while time.perf_counter() - probe.last_arrival < QUIET_S and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    probe.frames.clear()
    probe.latencies_ms.clear()
    probe.handled_ms.clear()
    probe.pressed_at = probe.handled_at = None
    pane = probe.app.subscriber_pane
    _phase.update(
        began=time.perf_counter(),
        delivered=probe.delivered,
        counted=pane.received,
        rss=rss(),
        cpu=cpu_seconds(),
        ingest_cpu=ingest_cpu_seconds(probe.app) or 0.0,
    )
    return {"rss": _phase["rss"]}


async def end(probe: Probe, sent: int, last_seq: int | None) -> dict[str, object]:
    ended = time.perf_counter()
    pane = probe.app.subscriber_pane
    deadline = ended + 30
    while time.perf_counter() < deadline:
        if (
            (last_seq is not None and (probe.last_seq or 0) >= last_seq)
            or probe.delivered - _phase["delivered"] >= sent
            or time.perf_counter() - probe.last_arrival > QUIET_S
        ):
            break
        await asyncio.sleep(0.02)
    caught_up = min(time.perf_counter(), probe.last_arrival)
    cpu = cpu_seconds() - _phase["cpu"]
    ingest_cpu = ingest_cpu_seconds(probe.app)
    if ingest_cpu is not None:
        ingest_cpu -= _phase["ingest_cpu"]
    await asyncio.sleep(0.2)  # the last batch's frame
    began = _phase["began"]
    frames = [t for t in probe.frames if t <= ended]
    delivered = probe.delivered - _phase["delivered"]
    return {
        "delivered": delivered,
        "lost": sent - delivered,
        "counted": pane.received - _phase["counted"],
        "flood_s": ended - began,
        "catch_up_s": max(0.0, caught_up - ended),
        "cpu_s": cpu,
        "ingest_cpu_s": ingest_cpu,
        "frames": len(frames),
        "fps": len(frames) / (ended - began),
        "key_latencies_ms": probe.latencies_ms[:],
        "key_handled_ms": probe.handled_ms[:],
        "keys_unanswered": int(probe.pressed_at is not None),
        "rss_before": _phase["rss"],
        "rss_after": rss(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.flood_app")
    parser.add_argument("--sub", required=True, action="append", help="repeat for several feeds")
    parser.add_argument("--size", default="160x45")
    parser.add_argument("--settle", type=float, default=1.5, help="seconds before `ready`")
    parser.add_argument(
        "--ingest-thread", action="store_true", help="take the feed in on a thread, not a child"
    )
    options = parser.parse_args()
    width, height = (int(x) for x in options.size.split("x"))
    asyncio.run(run(options.sub, (width, height), options.settle, options.ingest_thread))


if __name__ == "__main__":
    main()
