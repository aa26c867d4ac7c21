"""The cluster's broker: a ROUTER facing clients, a backend facing workers, forwarding between.

Two routing modes, each forwarding in its own thread:

- `RoundRobinBroker` ("rr", the book's): ROUTER frontend, DEALER backend, joined by libzmq's
  `zmq_proxy_steerable` — the forwarding loop is C. The DEALER deals requests to workers in
  turn whatever they are doing, so a slow or stopped worker keeps receiving its share.
- `LoadBalancingBroker` ("lb", the zguide's load-balancing broker, with credit): ROUTER
  frontend, ROUTER backend; a request goes only to a worker with room for it (a few requests
  for a quick worker, one for a slow or stalled one), so queued requests wait in the broker
  for the next free worker instead of behind a slow one. It knows which requests each worker
  holds and re-queues them (once) when the supervisor reports the worker dead. This loop is
  Python, kept tight: one poll, then drains in batches. Its hop to the workers keeps the
  zguide's envelope (`[id, "", client envelope, "", body]`), so a zguide REQ worker can join:
  a shorter one would save 2 of the 16 frames it moves per request.

Both bind in the constructor (so a taken endpoint fails before anything starts), hand the
sockets to their thread in `start`, and are steered from the owner's thread through an inproc
PAIR: `counters()`, `forget(worker)`, `retire(worker)`, `close()`.
"""

from __future__ import annotations

import abc
import errno
import itertools
import logging
import math
import struct
import threading
import time
from collections import OrderedDict, deque

import zmq

from zmqtui.config import MAX_FILE_BYTES
from zmqtui.protocol import max_reply_bytes
from zmqtui.services import sockets
from zmqtui.services.budget import ReplyBudget
from zmqtui.services.sockets import recv_routed_nowait, send_nowait

logger = logging.getLogger(__name__)

ROUTING_MODES = ("lb", "rr")
DEFAULT_ROUTING = "lb"
"""A slow worker is given one request at a time and a dead or silent one's requests are
re-queued; rr (libzmq's C proxy) has about 1.4 times its peak throughput over even work."""

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

READY = b"READY"
"""A worker's first frame (after the empty delimiter) when it has room for work: alone from a
zguide REQ worker (room for one), or followed by its credit and the number of requests it has
taken so far (zmqtui's worker; see `LoadBalancingBroker`)."""
DRAIN = b"DRAIN"
"""The lb broker's order to a worker (`["", "DRAIN"]`, no envelope, so no client can send it):
finish what you hold, then exit."""
MAX_CREDIT = 16
"""Most requests the lb broker lets one worker hold, whatever credit it announces."""
STACK_SERVICE_S = 0.002
"""A worker whose replies lately took longer than this holds one request at a time in lb."""
STACK_STALL_S = 0.005
"""A worker whose oldest request is older than this gets no other until it answers."""

_BATCH = 256
_SERVICE_WEIGHT = 0.25
"""Weight of the newest reply in a worker's moving average of seconds per reply."""
_UNKNOWN_SERVICE = math.inf
_NOWHERE = -1
_IDLE = 0
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

    can_drain = False
    """The broker can address one worker on the backend (to drain it)."""

    def drain(self, worker_id: str) -> None:
        """Retire the worker and tell it to finish what it holds and exit: how a worker
        another host supervises is stopped from here. Only where `can_drain`."""
        if not self.can_drain:
            raise NotImplementedError(f"{self.routing} cannot address one worker")
        self._order(DRAIN, worker_id)

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


class _Worker:
    """What the load-balancing broker knows of one worker."""

    __slots__ = (
        "credit",
        "held",
        "id",
        "last_reply",
        "place",
        "sent",
        "sent_at_ready",
        "service",
        "taken_base",
    )

    def __init__(self, worker_id: bytes) -> None:
        self.id = worker_id
        self.credit = 1
        """Most requests it may hold at once, as it announced (capped by the broker)."""
        self.held: deque[tuple[list[bytes], bool, float]] = deque()
        """Requests sent to it and not answered, oldest first: (request, re-queued, sent at)."""
        self.sent = 0
        """Requests sent to it since the broker last met it."""
        self.taken_base: int | None = None
        """The worker's own count of requests taken when `sent` was 0 (None: it never said)."""
        self.sent_at_ready = 0
        """`sent` when its previous READY arrived."""
        self.service = _UNKNOWN_SERVICE
        """Seconds per reply lately (a moving average), as the broker sees them."""
        self.last_reply = 0.0
        self.place = _NOWHERE
        """`_NOWHERE`, `_IDLE` (in the idle queue) or the number of requests it holds while
        waiting in that level for one more."""


class LoadBalancingBroker(Broker):
    """The zguide's load-balancing broker, with credit: work goes to workers with room for it.

    A worker announces its credit (how many requests it may hold) in its READY, and how many
    requests it has taken so far. A request goes to the idle worker waiting longest; when none
    is idle, to a quick worker (replies within `STACK_SERVICE_S` lately, oldest request younger
    than `STACK_STALL_S`) holding the fewest, below its credit; otherwise it waits in the
    frontend's queue. A slow or stalled worker so holds one request at a time, and a quick one
    finds its next request waiting when it answers, without a round trip through the broker.

    Each READY is also a reckoning: what the worker has not taken is still on its way, the rest
    was answered (its replies come before the READY on the same connection), so a request or a
    reply that got lost frees the worker's credit at its next heartbeat instead of for ever.
    """

    routing = "lb"
    can_drain = True
    backend_type = zmq.ROUTER
    backend_options = ((zmq.ROUTER_MANDATORY, 1), (zmq.ROUTER_HANDOVER, 1))
    """A send to a worker that has gone raises (so the next one is tried) instead of vanishing;
    a worker that reconnects with its routing id takes over its old pipe."""

    def __init__(self, *args, max_credit: int = MAX_CREDIT, **kwargs) -> None:
        if max_credit < 1:
            raise ValueError("max_credit must be at least 1")
        super().__init__(*args, **kwargs)
        self.max_credit = max_credit
        self.stats = dict.fromkeys(COUNTER_NAMES, 0)
        self.stats.update(
            requests_requeued=0,
            frontend_dropped=0,
            backend_dropped=0,
            unanswered=0,
            replies_dropped_unread=0,
            queued=0,
            idle_workers=0,
            held=0,
        )
        self._workers: dict[bytes, _Worker] = {}
        self._idle: deque[_Worker] = deque()
        """Workers holding nothing, the one idle longest first."""
        self._levels: list[dict[bytes, _Worker]] = [{} for _ in range(max_credit)]
        """Quick workers by the number of requests they hold (1 up), with room for one more."""
        self._held = 0
        self._room = 0
        """Workers in a queue for work (idle, or quick with room for one more)."""
        self._pending: deque[tuple[list[bytes], bool]] = deque()
        """Requests no worker could take (re-queued ones), served before anything new."""
        self._ignored: OrderedDict[bytes, None] = OrderedDict()
        """Workers never to get work again (retired or dead), the most recent ones."""
        self._budget = ReplyBudget()
        """Large replies to a client that does not read them are dropped past its budget."""

    def _read_counters(self) -> dict[str, int]:
        stats = dict(self.stats)
        stats["queued"] = len(self._pending)
        stats["idle_workers"] = len(self._idle)
        stats["held"] = self._held
        return stats

    # --- the loop -----------------------------------------------------------------------------

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
                while self._pending and self._has_room():
                    self._dispatch(*self._pending.popleft())
                poller = everything if self._has_room() else no_frontend
                ready = dict(poller.poll())
                if backend in ready:
                    self._drain_backend()
                if control in ready and not self._obey():
                    return
                if frontend in ready:
                    self._drain_frontend()
        except zmq.ZMQError as exc:
            if exc.errno != zmq.ETERM:
                logger.exception("load-balancing broker stopped")

    def _has_room(self) -> bool:
        return self._room > 0

    def _obey(self) -> bool:
        """Run one command from the owner; False means stop."""
        command, *args = self._control_theirs.recv_multipart()
        if command == b"TERMINATE":
            return False
        worker_id, flag = args
        if command == DRAIN:
            self._tell_to_drain(worker_id)
        worker = self._workers.pop(worker_id, None)
        if command != b"FORGET" or flag != b"revivable":
            self._ignored[worker_id] = None
            while len(self._ignored) > _REMEMBERED_IGNORED:
                self._ignored.popitem(last=False)
        if worker is None:
            return True
        self._unplace(worker)
        self._held -= len(worker.held)
        if command == b"FORGET":
            for request, requeued, _sent_at in reversed(worker.held):
                if requeued:  # its second worker lost: given up on
                    self.stats["unanswered"] += 1
                else:
                    self.stats["requests_requeued"] += 1
                    self._pending.appendleft((request, True))
        return True

    def _tell_to_drain(self, worker_id: bytes) -> None:
        try:
            send_nowait(self.backend, [worker_id, b"", DRAIN])
        except zmq.ZMQError as exc:
            if exc.errno not in (errno.EHOSTUNREACH, errno.EAGAIN):
                raise
            logger.warning("cannot tell worker %r to drain: %s", worker_id, exc.strerror)

    def _drain_backend(self) -> None:
        backend, frontend, stats = self.backend, self.frontend, self.stats
        workers, ignored, budget = self._workers, self._ignored, self._budget
        frames_in = bytes_in = frames_out = bytes_out = dropped = unread = 0
        try:
            for _ in range(_BATCH):
                try:
                    frames = recv_routed_nowait(backend)
                except zmq.Again:
                    return
                count, size = len(frames), sum(map(len, frames))
                frames_in += count
                bytes_in += size
                if count < 3 or frames[1]:
                    dropped += 1
                    continue
                worker_id = frames[0]
                if count == 3 or (count == 5 and frames[2] == READY and frames[3]):
                    if not self._ready(worker_id, frames[2:]):
                        dropped += 1
                    continue
                try:
                    sent = budget.send(frontend, frames[2:])
                except zmq.Again:
                    dropped += 1
                else:
                    if sent:
                        frames_out += count - 2
                        bytes_out += size - len(worker_id)
                    else:
                        unread += 1
                worker = workers.get(worker_id)
                if worker is not None:
                    self._answered(worker)
                elif worker_id not in ignored:
                    # A worker that announces itself with its first reply (a zguide REQ worker
                    # forgotten while silent, say): one request at a time.
                    self._place(self._meet(worker_id))
        finally:
            stats["backend_in"] += frames_in
            stats["backend_bytes_in"] += bytes_in
            stats["frontend_out"] += frames_out
            stats["frontend_bytes_out"] += bytes_out
            stats["backend_dropped"] += dropped
            stats["replies_dropped_unread"] += unread

    def _drain_frontend(self) -> None:
        frontend, stats = self.frontend, self.stats
        frames_in = bytes_in = dropped = 0
        try:
            for _ in range(_BATCH):
                if self._pending or not self._has_room():
                    return
                try:
                    frames = recv_routed_nowait(frontend)
                except zmq.Again:
                    return
                frames_in += len(frames)
                bytes_in += sum(map(len, frames))
                if b"" not in frames[1:]:
                    # No envelope delimiter: no worker could address a reply to it.
                    dropped += 1
                    continue
                self._dispatch(frames, False)
        finally:
            stats["frontend_in"] += frames_in
            stats["frontend_bytes_in"] += bytes_in
            stats["frontend_dropped"] += dropped

    # --- workers ------------------------------------------------------------------------------

    def _meet(self, worker_id: bytes) -> _Worker:
        worker = self._workers[worker_id] = _Worker(worker_id)
        return worker

    def _ready(self, worker_id: bytes, message: list[bytes]) -> bool:
        """Take a READY (`[READY]`, or `[READY, credit, taken]`); False if malformed."""
        taken: int | None = None
        credit = 1
        if len(message) == 3:
            try:
                credit, taken = int(message[1]), int(message[2])
            except ValueError:
                return False
            if credit < 1 or taken < 0:
                return False
        if worker_id in self._ignored:
            return True
        worker = self._workers.get(worker_id) or self._meet(worker_id)
        worker.credit = min(credit, self.max_credit)
        self._reckon(worker, taken)
        self._unplace(worker)
        self._place(worker)
        return True

    def _reckon(self, worker: _Worker, taken: int | None) -> None:
        """Settle what `worker` holds from a READY: it has answered every request it took.

        Requests it has not taken are on their way, unless they were sent before its previous
        READY: a whole heartbeat later they are lost, as are the replies of those it took.
        """
        if taken is not None:
            if worker.taken_base is None:
                # Its first count: what the broker thinks it holds is still on the way.
                worker.taken_base = taken - (worker.sent - len(worker.held))
            elif taken - worker.taken_base > worker.sent:
                # More than it was sent (it met another broker under its id): start afresh.
                worker.taken_base = taken - worker.sent
            done = max(taken - worker.taken_base, worker.sent_at_ready)
        else:
            done = worker.sent_at_ready
        on_the_way = max(0, worker.sent - done)
        while len(worker.held) > on_the_way:
            worker.held.popleft()
            self._held -= 1
            self.stats["unanswered"] += 1
        worker.sent_at_ready = worker.sent

    def _answered(self, worker: _Worker) -> None:
        """A reply from `worker` went out: its oldest request is done."""
        now = time.monotonic()
        if worker.held:
            sent_at = worker.held.popleft()[2]
            self._held -= 1
            # From when it could start on it: sent, or its previous reply if that came later.
            took = now - (sent_at if sent_at > worker.last_reply else worker.last_reply)
            if worker.service == _UNKNOWN_SERVICE:
                worker.service = took
            else:
                worker.service += (took - worker.service) * _SERVICE_WEIGHT
        worker.last_reply = now
        self._unplace(worker)
        self._place(worker)

    def _place(self, worker: _Worker) -> None:
        """Queue `worker` for more work if it has room (it is in no queue now)."""
        holds = len(worker.held)
        if holds == 0:
            worker.place = _IDLE
            self._idle.append(worker)
            self._room += 1
        elif holds < worker.credit and worker.service <= STACK_SERVICE_S:
            worker.place = holds
            self._levels[holds][worker.id] = worker
            self._room += 1

    def _unplace(self, worker: _Worker) -> None:
        place = worker.place
        if place == _NOWHERE:
            return
        if place == _IDLE:
            self._idle.remove(worker)
        else:
            del self._levels[place][worker.id]
        worker.place = _NOWHERE
        self._room -= 1

    def _pick(self, now: float) -> _Worker | None:
        """The worker the next request goes to, out of its queue; None if none has room."""
        if not self._room:
            return None
        if self._idle:
            worker = self._idle.popleft()
            worker.place = _NOWHERE
            self._room -= 1
            return worker
        for level in self._levels:
            while level:
                # The one that got there last: a worker that keeps answering comes back up
                # and is picked again, one that sits on its requests sinks.
                _, worker = level.popitem()
                worker.place = _NOWHERE
                self._room -= 1
                if now - worker.held[0][2] < STACK_STALL_S:
                    return worker
                # Stalled on its oldest request: it waits for its next reply or READY.
        return None

    def _dispatch(self, request: list[bytes], requeued: bool) -> None:
        """Send to the best worker still there, or hold until one has room."""
        backend = self.backend
        now = time.monotonic()
        while (worker := self._pick(now)) is not None:
            frames = [worker.id, b"", *request]
            try:
                send_nowait(backend, frames)
            except zmq.ZMQError as exc:
                if exc.errno in (errno.EHOSTUNREACH, errno.EAGAIN):
                    continue  # gone or choked: out of the queues until its next READY
                raise
            stats = self.stats
            stats["backend_out"] += len(frames)
            stats["backend_bytes_out"] += sum(map(len, frames))
            worker.held.append((request, requeued, now))
            worker.sent += 1
            self._held += 1
            self._place(worker)
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
