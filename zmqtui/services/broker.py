"""The cluster's broker: a ROUTER facing clients, a backend facing workers, forwarding between.

Two routing modes, each forwarding in its own thread:

- `RoundRobinBroker` ("rr", the book's): ROUTER frontend, DEALER backend, joined by libzmq's
  `zmq_proxy_steerable` — the forwarding loop is C. The DEALER deals requests to workers in
  turn whatever they are doing, so a slow or stopped worker keeps receiving its share.
- `LoadBalancingBroker` ("lb", the zguide's load-balancing broker, with credit): ROUTER
  frontend, ROUTER backend; a request goes only to a worker with room for it (a few requests
  for a quick worker, one for a slow or stalled one), so queued requests wait in the broker
  for the next free worker instead of behind a slow one. It knows which requests each worker
  holds and re-queues them (once) when the supervisor reports the worker dead. This loop is C
  too (`zmqtui/native/lb.c`, the GIL released): one poll, then drains in batches. Its hop to
  the workers keeps the zguide's envelope (`[id, "", client envelope, "", body]`), so a zguide
  REQ worker can join: a shorter one would save 2 of the 16 frames it moves per request.

Both bind in the constructor (so a taken endpoint fails before anything starts), hand the
sockets to their thread in `start`, and are steered from the owner's thread through an inproc
PAIR: `counters()` (asked with STATISTICS), `forget(worker)`, `retire(worker)`, `drain(worker)`,
`close()`, carried out in the order they were given.
"""

from __future__ import annotations

import abc
import itertools
import logging
import struct
import threading

import zmq

from zmqtui.config import MAX_FILE_BYTES
from zmqtui.native import loops
from zmqtui.protocol import max_reply_bytes
from zmqtui.services import sockets
from zmqtui.services.budget import PEER_REPLY_BYTES, TRACKED_FROM_BYTES, log_unread

logger = logging.getLogger(__name__)

ROUTING_MODES = ("lb", "rr")
DEFAULT_ROUTING = "lb"
"""A slow worker is given one request at a time and a dead or silent one's requests are
re-queued; both modes forward in C, at about the same throughput over even work."""

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

_STATISTICS_WAIT_MS = 100
"""Longest wait for the forwarding thread's counters."""
_REMEMBERED_IGNORED = 1024
"""Workers retired or dead that lb remembers to ignore (the most recent ones)."""
_ids = itertools.count()


class Broker(abc.ABC):
    """What both routing modes share: the sockets, the thread and the control pair."""

    routing = ""
    backend_type = zmq.DEALER
    backend_options: tuple[tuple[int, int], ...] = ()
    """Socket options the mode needs on the backend before it binds."""
    counter_names: tuple[str, ...] = COUNTER_NAMES
    """What the forwarding thread answers STATISTICS with, one 64-bit frame each, in order."""

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
        self._last_counters = dict.fromkeys(self.counter_names, 0)
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

    def _read_counters(self) -> dict[str, int]:
        """Asks the forwarding thread, waiting at most `_STATISTICS_WAIT_MS` (the caller may be
        an event loop); the last counters known when it is slower. A late answer is taken next
        time. Orders sent before are carried out before it answers."""
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
                for name, frame in zip(self.counter_names, frames, strict=True)
            }

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
        """Never waits: a loop that has ended, or that takes no orders, must not hold up the
        cluster's event loop (the order is dropped, and said so)."""
        if self._closed or (self._thread is not None and not self._thread.is_alive()):
            return
        try:
            self._control.send_multipart([command, worker_id.encode(), flag], zmq.NOBLOCK)
        except zmq.Again:
            logger.error("broker loop takes no orders: %s dropped", command.decode())

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
                # Its loop may still be using the sockets: closing them under it would crash
                # the process, so they and the context are left for the process's end.
                logger.error("broker thread did not stop within %.1fs: its sockets stay", timeout)
                return
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

    Large replies go out within each client's `reply_budget` (as `budget.ReplyBudget` sends
    them): past it they are dropped and counted (`replies_dropped_unread`), with one warning.
    Malformed messages on either side are dropped and counted (`frontend_dropped`,
    `backend_dropped`). The loop is C (`zmqtui/native/lb.c`), run with the GIL released.
    """

    routing = "lb"
    can_drain = True
    backend_type = zmq.ROUTER
    backend_options = ((zmq.ROUTER_MANDATORY, 1), (zmq.ROUTER_HANDOVER, 1))
    """A send to a worker that has gone raises (so the next one is tried) instead of vanishing;
    a worker that reconnects with its routing id takes over its old pipe."""
    counter_names = loops.LB_COUNTER_NAMES
    """`COUNTER_NAMES`, then requests_requeued, frontend_dropped, backend_dropped, unanswered,
    replies_dropped_unread, queued, idle_workers and held."""

    def __init__(
        self,
        *args,
        max_credit: int = MAX_CREDIT,
        reply_budget: int = PEER_REPLY_BYTES,
        **kwargs,
    ) -> None:
        if max_credit < 1:
            raise ValueError("max_credit must be at least 1")
        super().__init__(*args, **kwargs)
        self.max_credit = max_credit
        self.reply_budget = reply_budget

    def _forward(self) -> None:
        balancer = loops.LoadBalancer(
            self.frontend.underlying,
            self.backend.underlying,
            self._control_theirs.underlying,
            max_credit=self.max_credit,
            stack_service_s=STACK_SERVICE_S,
            stack_stall_s=STACK_STALL_S,
            reply_budget=self.reply_budget,
            tracked_from=TRACKED_FROM_BYTES,
            remembered_ignored=_REMEMBERED_IGNORED,
        )
        while (events := balancer.run()) is not None:
            for event in events:
                _log(event)


def _log(event: tuple) -> None:
    """Log what the C loop reported."""
    kind, *details = event
    if kind == "unread":
        log_unread(*details)
    elif kind == "undrained":
        worker_id, reason = details
        logger.warning("cannot tell worker %r to drain: %s", worker_id, reason)
    else:
        logger.error("load-balancing broker stopped: %s", *details)


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
