"""The reply budget: large replies to a peer that does not read stop at its budget."""

from __future__ import annotations

import zmq
from helpers import wait_for_sync

from zmqtui.services.budget import ReplyBudget

KIB = 1024


def pair(ctx: zmq.Context, name: str) -> tuple[zmq.Socket, zmq.Socket, bytes]:
    """A ROUTER and a DEALER peer on inproc (whose queue holds what the peer has not read)."""
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(f"inproc://{name}")
    peer = ctx.socket(zmq.DEALER)
    peer.setsockopt(zmq.LINGER, 0)
    peer.setsockopt(zmq.RCVTIMEO, 2000)  # a reply the budget let through and lost fails, not hangs
    peer.connect(f"inproc://{name}")
    peer.send(b"hello")
    assert router.poll(2000)
    routing_id, _ = router.recv_multipart()
    return router, peer, routing_id


def test_large_replies_stop_at_the_budget_until_the_peer_reads(ctx):
    router, peer, routing_id = pair(ctx, "budget-read")
    budget = ReplyBudget(per_peer=100 * KIB, tracked_from=KIB)
    big = b"x" * (60 * KIB)
    try:
        assert budget.send(router, [routing_id, big])  # nothing held: always let through
        assert not budget.send(router, [routing_id, big])  # 120 KiB would be held
        assert budget.send(router, [routing_id, b"small"])  # small replies are not counted
        assert budget.dropped == 1
        assert peer.recv() == big  # read: libzmq lets go of it
        wait_for_sync(lambda: budget.send(router, [routing_id, big]))
        assert peer.recv() == b"small" and peer.recv() == big
    finally:
        router.close(linger=0)
        peer.close(linger=0)


def test_a_peer_that_leaves_is_forgotten(ctx):
    router, peer, routing_id = pair(ctx, "budget-leave")
    budget = ReplyBudget(per_peer=100 * KIB, tracked_from=KIB)
    try:
        assert budget.send(router, [routing_id, b"x" * (90 * KIB)])
        peer.close(linger=0)

        def forgotten() -> bool:
            router.poll(10)  # the ROUTER learns of the departure when it is used
            budget.sweep()
            return not budget._held

        wait_for_sync(forgotten)
    finally:
        router.close(linger=0)
