"""A budget of reply bytes per peer: what a client that does not read can make a server hold.

libzmq queues what a ROUTER sends to a peer until the peer's connection takes it, up to the
high-water mark: a number of messages, whatever their size. A client that pipelines requests
for a large file and never reads its replies so makes the server keep every reply (a 1 MiB file
of control characters is a 6 MiB reply). `ReplyBudget` sends a large reply without a copy and
tracks when libzmq lets go of it (written to the connection, or dropped with the peer); a peer
whose large replies still held add up to the budget gets no more of them: they are dropped and
counted. The peer's client times out and asks again, as it would for a lost reply.

Small replies (below `TRACKED_FROM_BYTES`) are sent as before: tracking costs more than they
do, and the high-water mark bounds them (1000 messages of under 16 KiB each).
"""

from __future__ import annotations

import ctypes
import logging
from collections import deque

import zmq

from zmqtui.services.sockets import send_nowait

logger = logging.getLogger(__name__)

PEER_REPLY_BYTES = 16 * 1024 * 1024
"""Bytes of large replies one peer may have queued and unread; one more reply is always let
through to a peer that has none queued, however large."""
TRACKED_FROM_BYTES = 16 * 1024
"""Replies from this size up count against the budget."""
_SWEEP_EVERY = 256
"""Tracked sends between two sweeps of every peer's account (peers that left are forgotten)."""

_M_MMAP_THRESHOLD = -3
"""glibc's `mallopt` parameter (malloc.h)."""
_NOBLOCK = int(zmq.NOBLOCK)
_MORE_NOBLOCK = int(zmq.SNDMORE) | _NOBLOCK
_send = zmq.backend.Socket.send


class ReplyBudget:
    """Sends replies on a ROUTER, dropping large ones to peers over their budget.

    Used by the thread that owns the socket.
    """

    def __init__(
        self,
        per_peer: int = PEER_REPLY_BYTES,
        tracked_from: int = TRACKED_FROM_BYTES,
    ) -> None:
        self.per_peer = per_peer
        self.tracked_from = tracked_from
        self.dropped = 0
        """Replies dropped because their peer had too many bytes unread."""
        self._held: dict[bytes, _Account] = {}
        self._until_sweep = _SWEEP_EVERY

    def send(self, sock: zmq.Socket, frames: list[bytes]) -> bool:
        """Send `frames` (the peer's routing id first, the reply last) without blocking.

        False when the reply was dropped for the budget. `zmq.Again` and other errors as from
        `sockets.send_nowait`.
        """
        reply = frames[-1]
        size = len(reply)
        if size < self.tracked_from:
            send_nowait(sock, frames)
            return True
        peer = frames[0]
        account = self._held.get(peer)
        if account is None:
            account = self._held[peer] = _Account()
        elif account.settle() and account.bytes + size > self.per_peer:
            self._drop(account)
            return False
        tracked = zmq.Frame(reply, track=True, copy=False)
        for frame in frames[:-1]:
            _send(sock, frame, _MORE_NOBLOCK)
        _send(sock, tracked, _NOBLOCK)
        account.add(tracked.tracker, size)
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self.sweep()
        return True

    def sweep(self) -> None:
        """Forget the peers that have nothing held (those that left among them)."""
        self._until_sweep = _SWEEP_EVERY
        for peer in [peer for peer, account in self._held.items() if not account.settle()]:
            del self._held[peer]

    def _drop(self, account: _Account) -> None:
        self.dropped += 1
        if not account.warned:
            account.warned = True
            log_unread(account.bytes)


def log_unread(held_bytes: int) -> None:
    """Warn, once a client's large replies are first dropped, that it does not read them."""
    logger.warning(
        "a client has %d bytes of replies unread: replies to it are dropped until it reads "
        "(it asks again after its timeout)",
        held_bytes,
    )


class _Account:
    """The large replies sent to one peer that libzmq may still hold, oldest first."""

    __slots__ = ("bytes", "sent", "warned")

    def __init__(self) -> None:
        self.sent: deque[tuple[zmq.MessageTracker, int]] = deque()
        self.bytes = 0
        self.warned = False

    def add(self, tracker: zmq.MessageTracker, size: int) -> None:
        self.sent.append((tracker, size))
        self.bytes += size

    def settle(self) -> int:
        """Let go of the replies libzmq is done with (in order: a peer's queue is FIFO);
        the number still held."""
        sent = self.sent
        while sent and sent[0][0].done:
            self.bytes -= sent.popleft()[1]
        if not sent:
            self.warned = False
        return len(sent)


def map_large_allocations() -> None:
    """Have glibc map every allocation from 128 KiB up on its own, so that freeing one (a
    reply its peer read, or dropped with the peer) gives the memory back to the system at once.

    By default glibc raises that threshold to the largest block freed so far (up to 32 MiB):
    replies of a few MiB then come from its heap, which keeps them after they are freed. A
    process setting; nothing happens where the C library is not glibc.
    """
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
