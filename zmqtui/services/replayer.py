"""Publishes a recording again, frames byte-identical, with its timing or as fast as it goes.

The socket is an XPUB: it sees subscriptions, so a replay can wait for its subscribers before
the first message (a PUB drops everything sent before a subscriber has joined), and with
`XPUB_NODROP` a subscriber that cannot keep up slows the replay down instead of losing
messages. At the end, what is still queued is delivered (for at most `DRAIN_S`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import zmq
from zmq.utils.monitor import parse_monitor_message

from zmqtui.recording import RecordingError, RecordingReader
from zmqtui.services import sockets

SEND_HWM = 10_000
"""Messages queued per subscriber before the replay waits for it."""

DRAIN_S = 5.0
"""How long the end of a replay waits for queued messages to be delivered."""

PROGRESS_EVERY_S = 1.0
TICK_S = 0.1
"""Longest wait without looking at the stop flag, subscriptions and progress."""

_PEER_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED


class Stopped(Exception):
    """The replay was told to stop."""


@dataclass(slots=True)
class ReplayProgress:
    """How far a replay is: sent so far, where in the recording, how late."""

    sent: int = 0
    loops: int = 0
    """Passes over the recording finished."""
    position_s: float = 0.0
    """Time into the recording of the message sent last (recorded time, unscaled)."""
    behind_s: float = 0.0
    """How late the message sent last went out compared with its schedule."""
    elapsed_s: float = 0.0
    malformed: int = 0
    stopped: bool = False


class Replayer:
    """Publishes the recording at `path` on `endpoint` (bound, or connected with `bind=False`).

    Args:
        speed: how much faster than recorded (2: twice as fast); None is as fast as it goes.
        loop: start again from the beginning at the end, until stopped.
        topics: only messages whose first frame starts with one of these (empty: all).
        feeds: only messages of these feeds (empty: all).
        wait_subscribers: before the first message, wait for this many subscribers.
        on_progress: told how far the replay is, every second and at the end.
        on_note: told, in a line, what a user should know (waiting, malformed lines).
    """

    def __init__(
        self,
        ctx: zmq.Context,
        path: str | os.PathLike[str],
        endpoint: str,
        *,
        bind: bool = True,
        public: bool = False,
        speed: float | None = 1.0,
        loop: bool = False,
        topics: Sequence[bytes] = (),
        feeds: Sequence[str] = (),
        wait_subscribers: int = 0,
        on_progress: Callable[[ReplayProgress], None] | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.path = path
        self.endpoint = endpoint
        self.bind = bind
        self.public = public
        self.speed = speed
        self.loop = loop
        self.topics = tuple(topics)
        self.feeds = frozenset(feeds)
        self.wait_subscribers = wait_subscribers
        self.on_progress = on_progress
        self.on_note = on_note
        self.progress = ReplayProgress()
        self.bound = ""
        """The endpoint bound (a `:0` port resolved), once `open` has run."""
        self._stopping = False
        self._sock: zmq.Socket | None = None
        self._monitor: zmq.Socket | None = None
        self._peers = 0
        self._subscriptions = 0
        self._next_progress = 0.0

    def stop(self) -> None:
        """End the replay as soon as it can (safe from a signal handler)."""
        self._stopping = True

    def open(self) -> str:
        """Check the recording, make the socket; the endpoint bound (or connected to)."""
        RecordingReader(self.path).close()  # a file that is no recording fails here
        sock = self.ctx.socket(zmq.XPUB)
        self._sock = sock
        sockets.configure(sock, max_message_bytes=None)
        sock.setsockopt(zmq.SNDHWM, SEND_HWM)
        sock.setsockopt(zmq.XPUB_VERBOSE, 1)
        sock.setsockopt(zmq.XPUB_NODROP, 1)
        self._monitor = sock.get_monitor_socket(_PEER_EVENTS)
        if self.bind:
            self.bound = sockets.bind(sock, self.endpoint, public=self.public)
        else:
            sockets.connect(sock, self.endpoint)
            self.bound = self.endpoint
        return self.bound

    def run(self) -> ReplayProgress:
        """Wait for subscribers, then replay (looping if asked) until the end or `stop()`."""
        if self._sock is None:
            self.open()
        started = time.monotonic()
        self._next_progress = started + PROGRESS_EVERY_S
        try:
            self._wait_for_subscribers()
            started = time.monotonic()
            while True:
                sent_before = self.progress.sent
                self._replay_once()
                self.progress.loops += 1
                if not self.loop or self.progress.sent == sent_before:
                    break  # a loop over nothing would spin
        except Stopped:
            self.progress.stopped = True
        self.progress.elapsed_s = time.monotonic() - started
        self._report()
        return self.progress

    def close(self) -> None:
        """Deliver what is queued (unless stopped), then close the socket."""
        if self._monitor is not None:
            with contextlib.suppress(zmq.ZMQError):
                self._sock.disable_monitor()  # type: ignore[union-attr]
            self._monitor.close(linger=0)
        if self._sock is not None:
            drain_ms = 0 if self.progress.stopped else int(DRAIN_S * 1000)
            self._sock.close(linger=drain_ms)

    # --- the replay itself ----------------------------------------------------------------

    def _replay_once(self) -> None:
        assert self._sock is not None
        sock = self._sock
        send = sockets.send_nowait
        topics, feeds = self.topics, self.feeds
        scale = None if self.speed is None else 1e-9 / self.speed
        progress = self.progress
        with RecordingReader(self.path, on_malformed=self._malformed) as reader:
            first_ns: int | None = None
            pass_started = time.perf_counter()
            for received_ns, feed, frames in reader:
                if feeds and feed not in feeds:
                    continue
                if topics and not frames[0].startswith(topics):
                    continue
                if first_ns is None:
                    first_ns = received_ns
                if scale is not None:
                    due = pass_started + (received_ns - first_ns) * scale
                    late = time.perf_counter() - due
                    if late < 0:
                        self._sleep_until(due)
                        late = 0.0
                    progress.behind_s = late
                try:
                    send(sock, frames)
                except zmq.Again:  # a subscriber's queue is full (XPUB_NODROP): wait for it
                    self._send_when_ready(frames)
                progress.sent += 1
                progress.position_s = (received_ns - first_ns) / 1e9
                if progress.sent & 0x3FF == 0:
                    self._tick()

    def _send_when_ready(self, frames: tuple[bytes, ...]) -> None:
        assert self._sock is not None
        while True:
            self._tick()
            if self._sock.poll(int(TICK_S * 1000), zmq.POLLOUT):
                try:
                    sockets.send_nowait(self._sock, frames)
                    return
                except zmq.Again:
                    continue

    def _sleep_until(self, due: float) -> None:
        while (wait := due - time.perf_counter()) > 0:
            self._tick()
            time.sleep(min(wait, TICK_S))

    def _tick(self) -> None:
        """What is done between messages, now and then: stop, subscriptions, progress."""
        if self._stopping:
            raise Stopped
        self._take_subscriptions()
        now = time.monotonic()
        if now >= self._next_progress:
            self._next_progress = now + PROGRESS_EVERY_S
            self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    def _malformed(self, error: RecordingError) -> None:
        self.progress.malformed += 1
        if self.on_note is not None:
            self.on_note(f"skipped: {error}")

    # --- subscribers ----------------------------------------------------------------------

    def _take_subscriptions(self) -> None:
        """Count subscriptions and peers (and keep the XPUB's queue of them empty)."""
        assert self._sock is not None and self._monitor is not None
        for frames in sockets.queued_messages(self._sock, 1000):
            if frames[0][:1] == b"\x01":
                self._subscriptions += 1
        for frames in sockets.queued_messages(self._monitor, 1000):
            event = parse_monitor_message(frames)["event"]
            self._peers += 1 if event == zmq.EVENT_HANDSHAKE_SUCCEEDED else -1

    def _wait_for_subscribers(self) -> None:
        """Until `wait_subscribers` peers have completed their handshake and as many
        subscriptions have arrived (a subscriber with several prefixes sends several)."""
        wanted = self.wait_subscribers
        if wanted <= 0:
            return
        if self.on_note is not None:
            self.on_note(f"waiting for {wanted} subscriber{'s' if wanted > 1 else ''}")
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._monitor, zmq.POLLIN)
        # inproc has no handshake to count peers by: there, subscriptions alone tell
        handshakes = not self.endpoint.startswith("inproc://")
        while self._subscriptions < wanted or (handshakes and self._peers < wanted):
            self._tick()
            poller.poll(int(TICK_S * 1000))
