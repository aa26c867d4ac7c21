"""One cluster worker: a DEALER on the broker's backend that answers file requests.

The same worker serves both routing modes, telling them apart by the envelope of each message:

- **lb** (the zguide's load-balancing broker, backend ROUTER): the worker sends `["", "READY",
  credit, taken]` on every (re)connection and with every heartbeat: it may hold `credit`
  requests at once and has taken `taken` so far, all of them answered (it answers what it
  takes before its next heartbeat). A broker that restarted, or that forgot the worker while
  it was silent, learns it is there, and any broker settles its account of what the worker
  holds (see `broker.LoadBalancingBroker`). Each request arrives as `["", client envelope...,
  "", request]` and the reply goes back the same way, which frees one credit. A zguide REQ
  worker (`["", "READY"]` once, then replies) can join too, with a credit of one.
- **rr** (the book's DEALER, round-robin): a request arrives as `[client id..., "", request]`, as a
  REP socket would see it before stripping the envelope, and the reply repeats the envelope.
  The READY sent on connect reaches the frontend ROUTER with an empty routing id, which it
  drops; once a request came in this envelope, heartbeats carry no READY until a reconnection.

The worker counts its own work (requests, errors, time spent answering) and reports it in a
heartbeat (PUSH, one JSON frame every `heartbeat_ms`) to the supervisor. A local worker also
keeps its counters in a small memory-mapped file the supervisor reads, so a worker killed with
SIGKILL leaves exact counts behind without a message per request.

A worker on another host runs under that host's supervisor: under systemd (`$NOTIFY_SOCKET`) it
says READY=1 once it has joined the broker, WATCHDOG=1 while its connection answers ZMTP
heartbeats, and STOPPING=1 once it has answered what it held; an lb broker can ask it to
drain (`["", "DRAIN"]` on the backend), after which it finishes what it holds and exits 0.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import mmap
import os
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from zmq.utils.monitor import recv_monitor_message

from zmqtui.config import HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS, MAX_FILE_BYTES, ConfigError
from zmqtui.protocol import encode_json, now_ms
from zmqtui.services import sockets
from zmqtui.services.broker import DRAIN, MAX_CREDIT, READY
from zmqtui.services.filer import FileRules
from zmqtui.services.notify import Notifier, watchdog_interval
from zmqtui.services.sockets import recv_nowait, send_nowait

logger = logging.getLogger(__name__)

HEARTBEAT_SUFFIX = ".heartbeat"
MAX_WORKER_ID_BYTES = 128
"""Longest worker id (UTF-8): it is the routing id the broker knows it by, whole."""
_DRAIN_BATCH = 64
_REPLY_BATCH = 16
"""Requests answered before their replies are sent together (one wake-up of the sending
thread, of the broker and of the client instead of one each per reply)."""
_MAX_POLL_MS = 250
"""Longest wait between checks of the stop flag."""
_FINAL_BEAT_LINGER_MS = 500
_FINISH_QUIET_MS = 50
"""A stopped worker answers what reaches it until nothing has for this long..."""
_FINISH_MAX_S = 1.0
"""...or for at most this long (an rr DEALER keeps dealing until the worker disconnects)."""
"""Time the final heartbeat (a remote worker leaving) gets to be queued, then to leave."""
_LINK_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED
_POLLIN = int(zmq.POLLIN)  # pyzmq's enums cost a Python call per lookup or operator


def heartbeat_endpoint_for(backend: str) -> str:
    """Where a worker of `backend` sends heartbeats unless told otherwise.

    The TCP port after the backend's, or the backend's ipc/inproc path plus `.heartbeat`: a
    worker on another machine needs only the backend endpoint to join.
    """
    transport, _, address = backend.partition("://")
    if transport == "tcp":
        host, _, port = address.rpartition(":")
        if not port.isdigit() or int(port) == 0:
            raise ConfigError(f"cannot derive a heartbeat endpoint from {backend}: no fixed port")
        return f"tcp://{host}:{int(port) + 1}"
    return backend + HEARTBEAT_SUFFIX


# --- counters -------------------------------------------------------------------------------

LATENCY_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5)
"""Upper bounds, in seconds, of the buckets a worker counts its answering times in (one more
bucket takes the slower ones): the request latency histogram of `zmqtui cluster --metrics`."""
_COUNTERS = struct.Struct(f"<QQQd{len(LATENCY_BOUNDS) + 1}Q")
"""requests, errors, dropped, seconds spent answering, then requests per latency bucket."""


@dataclass(slots=True)
class Counters:
    """A worker's own account of its work."""

    requests: int = 0
    errors: int = 0
    dropped: int = 0
    """Messages that could not be answered (no envelope) or whose reply could not be sent."""
    busy_seconds: float = 0.0
    latency_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS) + 1))
    """Requests answered within each of `LATENCY_BOUNDS` (not cumulative), then slower ones."""

    def __add__(self, other: Counters) -> Counters:
        return Counters(
            self.requests + other.requests,
            self.errors + other.errors,
            self.dropped + other.dropped,
            self.busy_seconds + other.busy_seconds,
            [a + b for a, b in zip(self.latency_buckets, other.latency_buckets, strict=True)],
        )


class CounterFile:
    """Counters in a shared memory-mapped file: the worker writes, the supervisor reads.

    The values survive the worker's death, whatever killed it.
    """

    def __init__(self, path: Path | str, *, create: bool) -> None:
        self.path = Path(path)
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC if create else os.O_RDONLY | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            if create:
                os.ftruncate(fd, _COUNTERS.size)
            access = mmap.ACCESS_WRITE if create else mmap.ACCESS_READ
            self._map = mmap.mmap(fd, _COUNTERS.size, access=access)
        finally:
            os.close(fd)

    @classmethod
    def prepare(cls, path: Path) -> CounterFile:
        """A zeroed counter file for a worker about to start, mapped for reading."""
        path.write_bytes(bytes(_COUNTERS.size))
        path.chmod(0o600)
        return cls(path, create=False)

    def write(self, counters: Counters) -> None:
        _COUNTERS.pack_into(
            self._map,
            0,
            counters.requests,
            counters.errors,
            counters.dropped,
            counters.busy_seconds,
            *counters.latency_buckets,
        )

    def read(self) -> Counters:
        requests, errors, dropped, busy, *buckets = _COUNTERS.unpack_from(self._map, 0)
        return Counters(requests, errors, dropped, busy, buckets)

    def close(self) -> None:
        self._map.close()


# --- the worker -----------------------------------------------------------------------------


def new_worker_id() -> str:
    """A routing id unique across machines: the pid alone is not."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything one worker needs; the supervisor passes it on the command line."""

    connect: str
    root: Path
    heartbeat: str | None = None
    """Where heartbeats go; derived from `connect` when None."""
    max_bytes: int = MAX_FILE_BYTES
    heartbeat_ms: int = HEARTBEAT_INTERVAL_MS
    worker_id: str = field(default_factory=new_worker_id)
    slot: int | None = None
    counters_path: Path | None = None
    """Memory-mapped counters for a local supervisor (see `CounterFile`)."""
    credit: int = MAX_CREDIT
    """Requests the load-balancing broker may hand it at once: more lets it answer several per
    wake-up; 1 is the zguide's one-at-a-time worker."""

    def __post_init__(self) -> None:
        if self.credit < 1:
            raise ConfigError("a worker's credit must be at least 1")


class Worker:
    """Answers requests from the backend until `stop` is set; call `run` in one thread."""

    def __init__(
        self,
        config: WorkerConfig,
        stop: threading.Event | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.stop = stop or threading.Event()
        self.counters = Counters()
        self.rules = FileRules(config.root, config.max_bytes)
        self.started_ms = now_ms()
        self._counter_file = (
            CounterFile(config.counters_path, create=True) if config.counters_path else None
        )
        self._last_beat_requests = 0
        self._host = socket.gethostname()
        self._round_robin = False
        """The last request came from a round-robin broker, which needs no READY."""
        self._taken = 0
        """Messages taken from a load-balancing broker, told it in every READY."""
        self._credit = b"%d" % config.credit
        self._notifier = notifier
        self._joined = False
        """The backend's connection is up (handshake done, ZMTP heartbeats answered)."""
        self._told_ready = False
        self._watchdog_s = watchdog_interval() or config.heartbeat_ms / 1000

    def run(self) -> None:
        """Connect, say READY, answer and beat until stopped; closes everything it opened."""
        ctx = zmq.Context()
        try:
            work = ctx.socket(zmq.DEALER)
            sockets.configure(work)
            self._watch_link(work)
            work.setsockopt(zmq.ROUTING_ID, self.config.worker_id.encode())
            sockets.connect(work, self.config.connect)
            beat = ctx.socket(zmq.PUSH)
            sockets.configure(beat)
            self._watch_link(beat)
            # Not CONFLATE, which can lose the final heartbeat on close: a queue of one, so a
            # worker cut off from its supervisor keeps no backlog of old heartbeats.
            beat.setsockopt(zmq.SNDHWM, 1)
            beat.setsockopt(zmq.SNDTIMEO, _FINAL_BEAT_LINGER_MS)
            sockets.connect(
                beat, self.config.heartbeat or heartbeat_endpoint_for(self.config.connect)
            )
            self._serve(work, beat)
            if self._notifier is not None:
                self._notifier.send(STOPPING=1, STATUS="answered what it held; stopping")
            self._heartbeat(beat, final=True)
            beat.close(linger=_FINAL_BEAT_LINGER_MS)
        finally:
            ctx.destroy(linger=0)
            if self._counter_file:
                self._counter_file.close()

    def _serve(self, work: zmq.Socket, beat: zmq.Socket) -> None:
        interval = self.config.heartbeat_ms / 1000
        connected = work.get_monitor_socket(_LINK_EVENTS)
        # libzmq's poll on plain items: a wake-up costs no Poller bookkeeping or dict
        items = [(work, _POLLIN), (connected, _POLLIN)]
        self._heartbeat(beat)
        next_beat = next_watchdog = time.monotonic() + interval
        while not self.stop.is_set():
            wait_ms = min(_MAX_POLL_MS, max(0, int((next_beat - time.monotonic()) * 1000)))
            ready = zmq.zmq_poll(items, wait_ms)
            if ready and ready[-1][0] is connected:
                self._connected(connected, work)
            if ready and ready[0][0] is work:
                self._drain(work)
            now = time.monotonic()
            if now >= next_beat:
                self._heartbeat(beat)
                if not self._round_robin:
                    self._ready(work)
                next_beat = time.monotonic() + interval
            if now >= next_watchdog and self._notifier is not None:
                if self._joined:
                    self._notifier.send(WATCHDOG=1)
                next_watchdog = now + self._watchdog_s
        work.disable_monitor()
        # Stopped on purpose (restart, scale down, shutdown): the broker sends it nothing new,
        # and what it holds, up to its credit, is answered rather than left to time out.
        finish_by = time.monotonic() + _FINISH_MAX_S
        while time.monotonic() < finish_by and work.poll(_FINISH_QUIET_MS):
            self._drain(work)

    def _watch_link(self, sock: zmq.Socket) -> None:
        """ZMTP heartbeats over TCP: a connection whose peer stops answering is dropped (and the
        worker reconnects) within the liveness, instead of waiting on TCP for minutes. A local
        transport breaks at once when its peer goes."""
        if not self.config.connect.startswith("tcp://"):
            return
        interval = self.config.heartbeat_ms
        sock.setsockopt(zmq.HEARTBEAT_IVL, interval)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, interval * HEARTBEAT_LIVENESS)
        sock.setsockopt(zmq.CONNECT_TIMEOUT, interval * HEARTBEAT_LIVENESS)

    def _connected(self, monitor: zmq.Socket, work: zmq.Socket) -> None:
        """The backend's connection went up or down. Up: a (new) broker is at the other end,
        and whatever it routes, it is told the worker is idle."""
        handshake = False
        joined = self._joined
        with contextlib.suppress(zmq.Again):
            while True:
                event = recv_monitor_message(monitor, flags=zmq.NOBLOCK)["event"]
                joined = event == zmq.EVENT_HANDSHAKE_SUCCEEDED
                handshake = handshake or joined
        if handshake:
            self._round_robin = False
            self._ready(work)
        if joined != self._joined:
            self._joined = joined
            self._tell_link()

    def _tell_link(self) -> None:
        """Tell systemd, if it listens, that the worker joined (the first time: READY) or lost
        the broker (no WATCHDOG until it is back)."""
        if self._notifier is None:
            return
        backend = self.config.connect
        if not self._joined:
            self._notifier.send(STATUS=f"waiting for the broker at {backend}")
        elif self._told_ready:
            self._notifier.send(WATCHDOG=1, STATUS=f"serving for {backend}")
        else:
            self._told_ready = True
            self._notifier.send(READY=1, WATCHDOG=1, STATUS=f"serving for {backend}")

    def _ready(self, work: zmq.Socket) -> None:
        with contextlib.suppress(zmq.Again):
            send_nowait(work, self._ready_message())

    def _ready_message(self) -> list[bytes]:
        return [b"", READY, self._credit, b"%d" % self._taken]

    def _drain(self, work: zmq.Socket) -> None:
        """Answer what waits on the socket, sending the replies of a few requests at once."""
        alone = [(work, _POLLIN)]
        for batch in range(_DRAIN_BATCH // _REPLY_BATCH):
            replies = []
            for _ in range(_REPLY_BATCH):
                try:
                    frames = recv_nowait(work)
                except zmq.Again:
                    break
                replies.append(self._handle(frames))
                if batch == 0 and len(replies) == 1 and not zmq.zmq_poll(alone, 0):
                    break  # a lone request, told by a poll rather than by zmq.Again (dearer)
            if not replies:
                return
            # Counted before they are sent: a reply a client holds is always in the counts.
            self._publish_counters()
            for reply in replies:
                self._send(work, reply)
            if len(replies) < _REPLY_BATCH or self.stop.is_set():
                return

    def _handle(self, frames: list[bytes]) -> list[bytes]:
        """The message to send back for one request: `frames` itself, the request replaced
        by its reply after the envelope."""
        balanced = frames[0] == b""
        self._round_robin = not balanced
        if balanced:
            self._taken += 1
        try:
            split = frames.index(b"", 1 if balanced else 0)
        except ValueError:
            if balanced and frames[1:] == [DRAIN]:
                self._taken -= 1  # an order from the broker, not a request it counted
                self.stop.set()
                return []
            self.counters.dropped += 1
            # lb: no reply will free its credit, a READY counting it does.
            return self._ready_message() if balanced else []
        began = time.perf_counter()
        answer = self.rules.respond(frames[split + 1 :])
        reply = answer.encode()
        counters = self.counters
        took = time.perf_counter() - began
        counters.busy_seconds += took
        counters.latency_buckets[bisect.bisect_left(LATENCY_BOUNDS, took)] += 1
        counters.requests += 1
        if not answer.ok:
            counters.errors += 1
        del frames[split + 1 :]
        frames.append(reply)
        return frames

    def _send(self, work: zmq.Socket, frames: list[bytes]) -> None:
        if not frames:
            return
        try:
            send_nowait(work, frames)
        except zmq.Again:
            self.counters.dropped += 1
            self._publish_counters()

    def _publish_counters(self) -> None:
        if self._counter_file:
            self._counter_file.write(self.counters)

    def _heartbeat(self, beat: zmq.Socket, final: bool = False) -> None:
        counters = self.counters
        message = {
            "type": "heartbeat",
            "worker": self.config.worker_id,
            "pid": os.getpid(),
            "host": self._host,
            "slot": self.config.slot,
            "started": self.started_ms,
            "timestamp": now_ms(),
            "interval_ms": self.config.heartbeat_ms,
            "requests": counters.requests,
            "errors": counters.errors,
            "dropped": counters.dropped,
            "busy_seconds": counters.busy_seconds,
            "latency_buckets": counters.latency_buckets,
            "busy": counters.requests > self._last_beat_requests,
            "final": final,
        }
        self._last_beat_requests = counters.requests
        with contextlib.suppress(zmq.Again):
            # The final one waits (up to SNDTIMEO) for the heartbeat before it to leave.
            beat.send(encode_json(message), flags=0 if final else zmq.NOBLOCK)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A decoded heartbeat; `decode_heartbeat` never trusts the shape of what arrived."""

    worker: str
    pid: int
    host: str
    slot: int | None
    started: int | None
    interval_ms: int
    counters: Counters
    busy: bool
    final: bool


def decode_heartbeat(raw: bytes) -> Heartbeat | None:
    """The heartbeat in one frame, or None when it is not one."""
    try:
        obj = json.loads(raw)
        if not isinstance(obj, dict) or obj.get("type") != "heartbeat":
            return None
        worker = obj["worker"]
        if not isinstance(worker, str) or not 0 < len(worker.encode()) <= MAX_WORKER_ID_BYTES:
            return None  # cut short, it would name a worker the broker does not know
        slot = obj.get("slot")
        started = obj.get("started")
        return Heartbeat(
            worker=worker,
            pid=int(obj["pid"]),
            host=str(obj.get("host", ""))[:255],
            slot=slot if isinstance(slot, int) and not isinstance(slot, bool) else None,
            started=started if isinstance(started, int) else None,
            interval_ms=max(1, int(obj.get("interval_ms", HEARTBEAT_INTERVAL_MS))),
            counters=Counters(
                requests=int(obj.get("requests", 0)),
                errors=int(obj.get("errors", 0)),
                dropped=int(obj.get("dropped", 0)),
                busy_seconds=float(obj.get("busy_seconds", 0.0)),
                latency_buckets=_latency_buckets(obj.get("latency_buckets")),
            ),
            busy=bool(obj.get("busy", False)),
            final=bool(obj.get("final", False)),
        )
    except (ValueError, TypeError, KeyError, RecursionError, OverflowError):
        return None


def _latency_buckets(value: object) -> list[int]:
    """A heartbeat's bucket counts, or zeros when it has none of the right shape."""
    size = len(LATENCY_BOUNDS) + 1
    if isinstance(value, list) and len(value) == size:
        return [max(0, int(count)) for count in value]
    return [0] * size


def watch_parent_pipe(stop: threading.Event) -> None:
    """Set `stop` when stdin reaches end of file: the supervisor holding its other end died."""

    def wait_for_eof() -> None:
        with contextlib.suppress(OSError):
            while os.read(sys.stdin.fileno(), 4096):
                pass
        stop.set()

    threading.Thread(target=wait_for_eof, name="parent-watch", daemon=True).start()


def run_worker(config: WorkerConfig, *, supervised: bool = False) -> int:
    """Run a worker in this process until SIGTERM/SIGINT (or its supervisor's death)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    notifier = None
    if supervised:
        # The supervisor stops its workers itself; a Ctrl-C on the terminal must not race it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        watch_parent_pipe(stop)
    else:
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        notifier = Notifier.from_environment()
    try:
        Worker(config, stop, notifier).run()
    finally:
        if notifier is not None:
            notifier.close()
    return 0
