"""The cluster's broker: a ROUTER facing clients, a backend facing workers, forwarding between.

Two routing modes, each forwarding in its own thread:

- `RoundRobinBroker` ("rr", the book's): ROUTER frontend, DEALER backend, joined by libzmq's
  `zmq_proxy_steerable` — the forwarding loop is C. The DEALER deals requests to workers in
  turn whatever they are doing, so a slow or stopped worker keeps receiving its share.
- `LoadBalancingBroker` ("lb", the zguide's load-balancing broker): ROUTER frontend, ROUTER
  backend; a request goes only to a worker that said it is idle (READY, or its last reply), so
  queued requests wait in the broker for the next free worker instead of behind a slow one. A
  READY from a worker holding a request is ignored (the READY and the request crossed). It
  knows which request each worker holds and re-queues it (once) when the supervisor reports
  the worker dead. This loop is Python, kept tight: one poll, then drains in batches.

Both bind in the constructor (so a taken endpoint fails before anything starts), hand the
sockets to their thread in `start`, and are steered from the owner's thread through an inproc
PAIR: `counters()`, `forget(worker)`, `retire(worker)`, `close()`.
"""

from __future__ import annotations

import abc
import errno
import itertools
import logging
import struct
import threading
from collections import OrderedDict, deque

import zmq

from zmqtui.config import MAX_FILE_BYTES
from zmqtui.protocol import max_reply_bytes
from zmqtui.services import sockets

logger = logging.getLogger(__name__)

ROUTING_MODES = ("lb", "rr")
DEFAULT_ROUTING = "rr"
"""About three times lb's throughput in the benchmarks; lb is the choice for uneven work."""
"""Load balancing: a slow or killed worker never holds requests queued behind it."""

COUNTER_NAMES = (
    "frontend_in",
    "frontend_bytes_in",
    "frontend_out",
    "frontend_bytes_out",
    "backend_in",
    "backend_bytes_in",
    "backend_out",
    "backend_bytes_out",
)
"""The broker's traffic counters, in frames and bytes, in the order libzmq's proxy reports them."""

_BATCH = 256
_STATISTICS_WAIT_MS = 100
"""Longest wait for the rr proxy's counters."""
_REMEMBERED_IGNORED = 1024
_ids = itertools.count()


class Broker(abc.ABC):
    """What both routing modes share: the sockets, the thread and the control pair."""

    routing = ""
    backend_type = zmq.DEALER
    backend_options: tuple[tuple[int, int], ...] = ()
    """Socket options the mode needs on the backend before it binds."""

    def __init__(
        self,
        frontend: str,
        backend: str,
        *,
        public: bool = False,
        max_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self._ctx = zmq.Context()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._bound: list[str] = []
        self._final_counters: dict[str, int] = {}
        try:
            self.frontend = self._ctx.socket(zmq.ROUTER)
            sockets.configure(self.frontend)
            self.frontend_endpoint = sockets.bind(self.frontend, frontend, public=public)
            self._bound.append(self.frontend_endpoint)
            self.backend = self._ctx.socket(self.backend_type)
            sockets.configure(self.backend, max_message_bytes=max_reply_bytes(max_bytes))
            for option, value in self.backend_options:
                self.backend.setsockopt(option, value)
            self.backend_endpoint = sockets.bind(self.backend, backend, public=public)
            self._bound.append(self.backend_endpoint)
            control = f"inproc://broker-control-{next(_ids)}"
            self._control_theirs = self._ctx.socket(zmq.PAIR)
            self._control_theirs.bind(control)
            self._control = self._ctx.socket(zmq.PAIR)
            self._control.connect(control)
        except BaseException:
            self._release()
            raise

    def start(self) -> None:
        """Start forwarding in a thread that owns the sockets from now on."""
        self._thread = threading.Thread(target=self._forward, name=f"broker-{self.routing}")
        self._thread.daemon = True
        self._thread.start()

    @abc.abstractmethod
    def _forward(self) -> None:
        """The forwarding loop; returns when told TERMINATE on the control pair."""

    def counters(self) -> dict[str, int]:
        """Traffic counters (`COUNTER_NAMES`, plus any the mode adds); the last ones once closed."""
        if self._closed:
            return dict(self._final_counters)
        return self._read_counters()

    @abc.abstractmethod
    def _read_counters(self) -> dict[str, int]:
        """The counters as they are now, asked from the forwarding thread if need be."""

    def forget(self, worker_id: str, *, revivable: bool = False) -> None:
        """The worker died or went silent: send it nothing more; re-queue what it held.

        A `revivable` worker (a silent remote one) is welcome again when it next speaks; any
        other is ignored for good, even if a reply it sent before dying arrives later.
        """
        self._order(b"FORGET", worker_id, b"revivable" if revivable else b"")

    def retire(self, worker_id: str) -> None:
        """The worker is stopping on purpose: send it nothing more; it finishes what it holds."""
        self._order(b"RETIRE", worker_id)

    def _order(self, command: bytes, worker_id: str, flag: bytes = b"") -> None:
        if not self._closed:
            self._control.send_multipart([command, worker_id.encode(), flag])

    def close(self, timeout: float = 5.0) -> None:
        """Stop forwarding, close every socket and the context (the bound endpoints free up)."""
        if self._closed:
            return
        self._final_counters = self._read_counters()
        self._closed = True
        if self._thread is not None:
            self._control.send(b"TERMINATE")
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.error("broker thread did not stop within %.1fs", timeout)
        self._release()

    def _release(self) -> None:
        for endpoint in self._bound:
            sockets.remove_ipc_file(endpoint)
        self._ctx.destroy(linger=0)


class RoundRobinBroker(Broker):
    """The book's ROUTER/DEALER pair, forwarded by libzmq's steerable proxy."""

    routing = "rr"
    backend_type = zmq.DEALER

    def forget(self, worker_id: str, *, revivable: bool = False) -> None:
        """Nothing to do: the DEALER deals to whoever is connected, and what a dead worker
        held is lost with its connection (clients retry)."""

    def retire(self, worker_id: str) -> None:
        """Nothing to do: the DEALER keeps dealing to a stopping worker until it disconnects."""

    def _forward(self) -> None:
        try:
            zmq.proxy_steerable(self.frontend, self.backend, None, self._control_theirs)
        except zmq.ZMQError as exc:
            if exc.errno != zmq.ETERM:
                logger.error("broker proxy stopped: %s", exc)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._last_counters = dict.fromkeys(COUNTER_NAMES, 0)

    def _read_counters(self) -> dict[str, int]:
        """Asks the proxy, waiting at most `_STATISTICS_WAIT_MS` (the caller may be an event
        loop); the last counters known when it is slower. A late answer is taken next time."""
        if self._thread is None or not self._thread.is_alive():
            return dict(self._last_counters)
        self._take_statistics()
        self._control.send(b"STATISTICS")
        if self._control.poll(_STATISTICS_WAIT_MS, zmq.POLLIN):
            self._take_statistics()
        return dict(self._last_counters)

    def _take_statistics(self) -> None:
        """Read every answer waiting on the control pair; the latest one counts."""
        while True:
            try:
                frames = self._control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self._last_counters = {
                name: struct.unpack("=Q", frame)[0]
                for name, frame in zip(COUNTER_NAMES, frames, strict=True)
            }


class LoadBalancingBroker(Broker):
    """The zguide's load-balancing broker: work goes only to idle workers."""

    routing = "lb"
    backend_type = zmq.ROUTER
    backend_options = ((zmq.ROUTER_MANDATORY, 1), (zmq.ROUTER_HANDOVER, 1))
    """A send to a worker that has gone raises (so the next one is tried) instead of vanishing;
    a worker that reconnects with its routing id takes over its old pipe."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stats = dict.fromkeys(COUNTER_NAMES, 0)
        self.stats.update(
            requests_requeued=0, frontend_dropped=0, backend_dropped=0, queued=0, idle_workers=0
        )
        self._idle: deque[bytes] = deque()
        self._idle_set: set[bytes] = set()
        self._held: dict[bytes, tuple[list[bytes], bool]] = {}
        """Worker id -> the request it holds and whether that request was re-queued already."""
        self._pending: deque[tuple[list[bytes], bool]] = deque()
        """Re-queued requests, served before anything new from the frontend."""
        self._ignored: OrderedDict[bytes, None] = OrderedDict()
        """Workers never to get work again (retired or dead), the most recent ones."""

    def _read_counters(self) -> dict[str, int]:
        stats = dict(self.stats)
        stats["queued"] = len(self._pending)
        stats["idle_workers"] = len(self._idle)
        return stats

    def _forward(self) -> None:
        frontend, backend, control = self.frontend, self.backend, self._control_theirs
        everything = zmq.Poller()
        for sock in (backend, control, frontend):
            everything.register(sock, zmq.POLLIN)
        no_frontend = zmq.Poller()
        for sock in (backend, control):
            no_frontend.register(sock, zmq.POLLIN)
        try:
            while True:
                while self._pending and self._idle:
                    self._dispatch(*self._pending.popleft())
                poller = everything if self._idle else no_frontend
                ready = dict(poller.poll())
                if backend in ready:
                    self._drain_backend()
                if control in ready and not self._obey():
                    return
                if frontend in ready and self._idle:
                    self._drain_frontend()
        except zmq.ZMQError as exc:
            if exc.errno != zmq.ETERM:
                logger.exception("load-balancing broker stopped")

    def _obey(self) -> bool:
        """Run one command from the owner; False means stop."""
        command, *args = self._control_theirs.recv_multipart()
        if command == b"TERMINATE":
            return False
        worker, flag = args
        self._drop_idle(worker)
        held = self._held.pop(worker, None)
        if command == b"RETIRE" or (command == b"FORGET" and flag != b"revivable"):
            self._ignored[worker] = None
            while len(self._ignored) > _REMEMBERED_IGNORED:
                self._ignored.popitem(last=False)
        if command == b"FORGET" and held is not None and not held[1]:
            self.stats["requests_requeued"] += 1
            self._pending.appendleft((held[0], True))
        return True

    def _drop_idle(self, worker: bytes) -> None:
        if worker in self._idle_set:
            self._idle_set.discard(worker)
            self._idle.remove(worker)

    def _mark_idle(self, worker: bytes) -> None:
        if worker not in self._idle_set and worker not in self._ignored:
            self._idle_set.add(worker)
            self._idle.append(worker)

    def _drain_backend(self) -> None:
        backend, frontend, stats = self.backend, self.frontend, self.stats
        for _ in range(_BATCH):
            try:
                frames = backend.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            stats["backend_in"] += len(frames)
            stats["backend_bytes_in"] += sum(map(len, frames))
            if len(frames) < 3 or frames[1] != b"":
                stats["backend_dropped"] += 1
                continue
            worker = frames[0]
            reply = frames[2:]
            if len(reply) == 1:
                # READY (on connecting, and with each heartbeat): idle, unless it holds a
                # request that crossed it on the way.
                if worker not in self._held:
                    self._mark_idle(worker)
                continue
            self._held.pop(worker, None)
            try:
                frontend.send_multipart(reply, zmq.NOBLOCK)
            except zmq.Again:
                stats["backend_dropped"] += 1
            else:
                stats["frontend_out"] += len(reply)
                stats["frontend_bytes_out"] += sum(map(len, reply))
            self._mark_idle(worker)

    def _drain_frontend(self) -> None:
        frontend, stats = self.frontend, self.stats
        for _ in range(_BATCH):
            if not self._idle:
                return
            try:
                frames = frontend.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            stats["frontend_in"] += len(frames)
            stats["frontend_bytes_in"] += sum(map(len, frames))
            if b"" not in frames[1:]:
                # No envelope delimiter: no worker could address a reply to it.
                stats["frontend_dropped"] += 1
                continue
            self._dispatch(frames, False)

    def _dispatch(self, request: list[bytes], requeued: bool) -> None:
        """Send to the first idle worker still there, or hold until one is."""
        backend, stats = self.backend, self.stats
        while self._idle:
            worker = self._idle.popleft()
            self._idle_set.discard(worker)
            frames = [worker, b"", *request]
            try:
                backend.send_multipart(frames, zmq.NOBLOCK)
            except zmq.ZMQError as exc:
                if exc.errno in (errno.EHOSTUNREACH, errno.EAGAIN):
                    continue
                raise
            stats["backend_out"] += len(frames)
            stats["backend_bytes_out"] += sum(map(len, frames))
            self._held[worker] = (request, requeued)
            return
        self._pending.appendleft((request, requeued))


def make_broker(
    routing: str,
    frontend: str,
    backend: str,
    *,
    public: bool = False,
    max_bytes: int = MAX_FILE_BYTES,
) -> Broker:
    """A bound (not yet started) broker for the routing mode `routing` ("lb" or "rr")."""
    kinds: dict[str, type[Broker]] = {"lb": LoadBalancingBroker, "rr": RoundRobinBroker}
    if routing not in kinds:
        raise ValueError(f"routing must be one of {', '.join(ROUTING_MODES)}, got {routing!r}")
    return kinds[routing](frontend, backend, public=public, max_bytes=max_bytes)
