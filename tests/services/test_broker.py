"""The brokers with scripted workers and clients on ipc sockets (no worker processes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from conftest import wait_for

from zmqtui.config import MAX_FILE_BYTES
from zmqtui.protocol import max_reply_bytes
from zmqtui.services import broker as broker_module
from zmqtui.services.broker import (
    COUNTER_NAMES,
    Broker,
    LoadBalancingBroker,
    RoundRobinBroker,
    make_broker,
)
from zmqtui.services.requester import MAX_REPLY_BYTES
from zmqtui.services.worker import READY

RECEIVE_TIMEOUT_MS = 5000


@pytest.fixture
def brokers(ipc_endpoint: Callable[[str], str]) -> Iterator[Callable[[str], Broker]]:
    """Makes started brokers on fresh ipc endpoints; closes them all."""
    made: list[Broker] = []

    def make(routing: str) -> Broker:
        n = len(made)
        broker = make_broker(routing, ipc_endpoint(f"front{n}"), ipc_endpoint(f"back{n}"))
        broker.start()
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()


def dealer(actx: zmq.asyncio.Context, endpoint: str, identity: bytes | None = None):
    sock = actx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if identity:
        sock.setsockopt(zmq.ROUTING_ID, identity)
    sock.connect(endpoint)
    return sock


async def recv(sock: zmq.asyncio.Socket) -> list[bytes]:
    assert await sock.poll(RECEIVE_TIMEOUT_MS, zmq.POLLIN), "nothing arrived"
    return await sock.recv_multipart()


async def nothing_arrives(sock: zmq.asyncio.Socket, ms: int = 200) -> bool:
    return not await sock.poll(ms, zmq.POLLIN)


async def ready_workers(actx, broker: Broker, *names: bytes) -> list[zmq.asyncio.Socket]:
    """Workers that said READY, in this order (the broker serves idle workers in turn)."""
    assert isinstance(broker, LoadBalancingBroker)
    workers = []
    already = broker.counters()["idle_workers"]
    for n, name in enumerate(names, 1):
        worker = dealer(actx, broker.backend_endpoint, name)
        await worker.send_multipart([b"", READY])
        await wait_for(lambda n=n: broker.counters()["idle_workers"] == already + n)
        workers.append(worker)
    return workers


class TestLoadBalancing:
    async def test_work_goes_only_to_idle_workers(self, actx, brokers):
        broker = brokers("lb")
        slow, quick = await ready_workers(actx, broker, b"slow", b"quick")
        client = dealer(actx, broker.frontend_endpoint)
        for n in range(3):
            await client.send_multipart([b"", b"req%d" % n])

        assert (await recv(slow))[-1] == b"req0"
        request = await recv(quick)
        assert request[-1] == b"req1"
        # "slow" sits on req0; req2 waits in the broker for the first worker to be free
        assert await nothing_arrives(slow) and await nothing_arrives(quick, 0)
        await quick.send_multipart([*request[:-1], b"rep1"])
        assert await recv(client) == [b"", b"rep1"]
        assert (await recv(quick))[-1] == b"req2"
        assert await nothing_arrives(slow)

    async def test_ready_while_holding_a_request_or_idle_changes_nothing(self, actx, brokers):
        broker = brokers("lb")
        busy, idle = await ready_workers(actx, broker, b"busy", b"idle")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req0"])
        request = await recv(busy)
        received = broker.counters()["backend_in"]
        # heartbeat READYs: one crossed the request, one from a worker already idle
        await busy.send_multipart([b"", READY])
        await idle.send_multipart([b"", READY])
        await wait_for(lambda: broker.counters()["backend_in"] == received + 6)
        assert broker.counters()["idle_workers"] == 1
        for n in (1, 2):
            await client.send_multipart([b"", b"req%d" % n])
        first = await recv(idle)
        assert first[-1] == b"req1"
        assert await nothing_arrives(busy) and await nothing_arrives(idle, 0)
        await idle.send_multipart([*first[:-1], b"rep1"])
        assert (await recv(idle))[-1] == b"req2"
        await busy.send_multipart([*request[:-1], b"rep0"])
        assert sorted([await recv(client), await recv(client)]) == [[b"", b"rep0"], [b"", b"rep1"]]

    async def test_request_held_by_a_dead_worker_is_requeued_once(self, actx, brokers):
        broker = brokers("lb")
        doomed, _sentinel = await ready_workers(actx, broker, b"doomed", b"sentinel")
        broker.forget("sentinel")
        await wait_for(lambda: broker.counters()["idle_workers"] == 1)
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b'{"path":"a"}'])
        held = await recv(doomed)
        doomed.close(linger=0)
        broker.forget("doomed")
        await wait_for(lambda: broker.counters()["queued"] == 1)

        heir = dealer(actx, broker.backend_endpoint, b"heir")
        await heir.send_multipart([b"", READY])
        again = await recv(heir)
        assert again == held
        assert broker.counters()["requests_requeued"] == 1
        broker.forget("heir")  # a second death does not re-queue it again
        (_marker,) = await ready_workers(actx, broker, b"marker")
        broker.forget("marker", revivable=True)
        # Orders run in turn: once the marker is forgotten, so is the heir.
        await wait_for(lambda: broker.counters()["idle_workers"] == 0)
        assert broker.counters()["queued"] == 0
        assert broker.counters()["requests_requeued"] == 1

    async def test_late_reply_of_a_dead_worker_is_delivered_but_revives_nothing(
        self, actx, brokers
    ):
        broker = brokers("lb")
        (dying,) = await ready_workers(actx, broker, b"dying")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req"])
        request = await recv(dying)
        broker.forget("dying")
        await wait_for(lambda: broker.counters()["queued"] == 1)
        await dying.send_multipart([*request[:-1], b"last words"])
        assert await recv(client) == [b"", b"last words"]
        # The broker is done with the late reply before it reads the next READY: were the dead
        # worker idle again, it would be first in line for the next request.
        heir = dealer(actx, broker.backend_endpoint, b"heir")
        await heir.send_multipart([b"", READY])
        requeued = await recv(heir)
        assert requeued[-1] == b"req"
        await heir.send_multipart([*requeued[:-1], b"again"])
        assert await recv(client) == [b"", b"again"]
        await client.send_multipart([b"", b"next"])
        assert (await recv(heir))[-1] == b"next"
        assert await nothing_arrives(dying)

    async def test_a_silent_worker_forgotten_as_revivable_is_welcome_back(self, actx, brokers):
        broker = brokers("lb")
        (far,) = await ready_workers(actx, broker, b"far")
        broker.forget("far", revivable=True)
        await wait_for(lambda: broker.counters()["idle_workers"] == 0)
        await far.send_multipart([b"", READY])
        await wait_for(lambda: broker.counters()["idle_workers"] == 1)

    async def test_retired_worker_finishes_but_gets_no_more_work(self, actx, brokers):
        broker = brokers("lb")
        (leaving,) = await ready_workers(actx, broker, b"leaving")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"one"])
        request = await recv(leaving)
        broker.retire("leaving")
        await leaving.send_multipart([*request[:-1], b"answer"])
        assert await recv(client) == [b"", b"answer"]
        await client.send_multipart([b"", b"two"])
        assert await nothing_arrives(leaving)
        assert broker.counters()["requests_requeued"] == 0

    async def test_malformed_messages_are_dropped_and_counted(self, actx, brokers):
        broker = brokers("lb")
        (worker,) = await ready_workers(actx, broker, b"w")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"no delimiter"])
        await worker.send_multipart([b"no", b"delimiter"])
        await wait_for(
            lambda: (
                broker.counters()["frontend_dropped"] == 1
                and broker.counters()["backend_dropped"] == 1
            )
        )
        await client.send_multipart([b"", b"fine"])
        assert (await recv(worker))[-1] == b"fine"


class TestRoundRobin:
    async def test_deals_in_turn_and_counts_frames(self, actx, brokers):
        broker = brokers("rr")
        assert isinstance(broker, RoundRobinBroker)
        workers = [dealer(actx, broker.backend_endpoint) for _ in range(2)]
        client = dealer(actx, broker.frontend_endpoint)
        # Both workers connected before dealing starts: the proxy has read a READY from each
        # (2 frames, passed on to the frontend, which drops them as unroutable).
        for n, worker in enumerate(workers, 1):
            await worker.send_multipart([b"", READY])
            await wait_for(lambda n=n: broker.counters()["backend_in"] == 2 * n)
        for n in range(4):
            await client.send_multipart([b"", b"req%d" % n])
        got = {0: [], 1: []}
        for i, worker in enumerate(workers):
            for _ in range(2):
                frames = await recv(worker)
                got[i].append(frames[-1])
                await worker.send_multipart([*frames[:-1], b"rep"])
        assert sorted(got[0] + got[1]) == [b"req0", b"req1", b"req2", b"req3"]
        assert len(got[0]) == len(got[1]) == 2
        for _ in range(4):
            assert await recv(client) == [b"", b"rep"]
        counts = broker.counters()
        assert set(counts) == set(COUNTER_NAMES)
        assert counts["frontend_in"] == counts["backend_out"] == 4 * 3
        assert counts["backend_in"] == counts["frontend_out"] == 4 * 3 + 2 * 2

    async def test_a_late_counter_answer_is_not_taken_for_the_next_one(
        self, actx, brokers, monkeypatch
    ):
        broker = brokers("rr")
        monkeypatch.setattr(broker_module, "_STATISTICS_WAIT_MS", 0)
        assert broker.counters()["frontend_in"] == 0  # gives up before the proxy answers
        monkeypatch.setattr(broker_module, "_STATISTICS_WAIT_MS", RECEIVE_TIMEOUT_MS)
        worker = dealer(actx, broker.backend_endpoint)
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req"])
        request = await recv(worker)
        await worker.send_multipart([*request[:-1], b"rep"])
        assert await recv(client) == [b"", b"rep"]
        counts = broker.counters()
        assert counts["frontend_in"] == counts["frontend_out"] == 3


@pytest.mark.parametrize("routing", ["lb", "rr"])
def test_close_stops_the_thread_and_frees_the_endpoints(ipc_endpoint, routing):
    front, back = ipc_endpoint("front"), ipc_endpoint("back")
    broker = make_broker(routing, front, back)
    broker.start()
    broker.close()
    assert broker._thread is not None and not broker._thread.is_alive()
    assert not any(Path(e.removeprefix("ipc://")).exists() for e in (front, back))
    again = make_broker(routing, front, back)
    again.close()


def test_unknown_routing_is_refused(ipc_endpoint):
    with pytest.raises(ValueError, match="routing"):
        make_broker("random", ipc_endpoint("f"), ipc_endpoint("b"))


def test_backend_takes_the_replies_a_requester_takes(ipc_endpoint):
    broker = make_broker("lb", ipc_endpoint("f"), ipc_endpoint("b"), max_bytes=3 * 1024 * 1024)
    try:
        assert broker.backend.getsockopt(zmq.MAXMSGSIZE) == max_reply_bytes(3 * 1024 * 1024)
    finally:
        broker.close()
    assert max_reply_bytes(MAX_FILE_BYTES) == MAX_REPLY_BYTES
