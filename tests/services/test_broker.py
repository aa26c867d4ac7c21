"""The brokers with scripted workers and clients on ipc sockets (no worker processes)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import zmq
import zmq.asyncio
from helpers import wait_for

from zmqtui.config import MAX_FILE_BYTES
from zmqtui.protocol import max_reply_bytes
from zmqtui.services import broker as broker_module
from zmqtui.services.broker import (
    COUNTER_NAMES,
    DRAIN,
    Broker,
    LoadBalancingBroker,
    RoundRobinBroker,
    make_broker,
)
from zmqtui.services.budget import map_large_allocations
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
        assert broker.counters()["unanswered"] == 1  # given up on, and counted

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

    async def test_a_drained_worker_is_told_so_and_gets_no_more_work(self, actx, brokers):
        broker = brokers("lb")
        leaving, staying = await ready_workers(actx, broker, b"leaving", b"staying")
        broker.drain("leaving")
        assert await recv(leaving) == [b"", DRAIN]
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req"])
        assert (await recv(staying))[-1] == b"req"
        assert await nothing_arrives(leaving)

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


def counted_ready(credit: int, taken: int) -> list[bytes]:
    """The READY of a worker with credit: how many it may hold, how many it has taken."""
    return [b"", READY, b"%d" % credit, b"%d" % taken]


async def credited_workers(actx, broker: Broker, credit: int, *names: bytes):
    """Workers that announced `credit` (none taken yet), idle in this order."""
    workers = []
    for n, name in enumerate(names, 1):
        worker = dealer(actx, broker.backend_endpoint, name)
        await worker.send_multipart(counted_ready(credit, 0))
        await wait_for(lambda n=n: broker.counters()["idle_workers"] == n)
        workers.append(worker)
    return workers


async def answer(worker: zmq.asyncio.Socket, request: list[bytes], body: bytes = b"rep") -> None:
    await worker.send_multipart([*request[:-1], body])


async def holding(broker: Broker, count: int) -> None:
    """Wait until the workers hold `count` requests between them."""
    await wait_for(lambda: broker.counters()["held"] == count)


@pytest.fixture
def quick_workers(monkeypatch) -> None:
    """Any worker that answered once is quick, and none stalls: credit alone decides."""
    monkeypatch.setattr(broker_module, "STACK_SERVICE_S", 60.0)
    monkeypatch.setattr(broker_module, "STACK_STALL_S", 60.0)


class TestCredit:
    async def test_a_quick_worker_holds_up_to_its_credit(self, actx, brokers, quick_workers):
        broker = brokers("lb")
        (worker,) = await credited_workers(actx, broker, 3, b"w")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"first"])
        await answer(worker, await recv(worker))  # now its pace is known
        assert await recv(client) == [b"", b"rep"]

        for n in range(4):
            await client.send_multipart([b"", b"req%d" % n])
        held = [await recv(worker) for _ in range(3)]
        assert [r[-1] for r in held] == [b"req0", b"req1", b"req2"]
        assert await nothing_arrives(worker)
        assert broker.counters()["held"] == 3
        await answer(worker, held[0])
        assert (await recv(worker))[-1] == b"req3"
        for request in held[1:]:
            await answer(worker, request)
        assert [await recv(client) for _ in range(3)] == [[b"", b"rep"]] * 3

    async def test_the_broker_caps_a_worker_s_credit(self, actx, ipc_endpoint, quick_workers):
        broker = LoadBalancingBroker(ipc_endpoint("f"), ipc_endpoint("b"), max_credit=2)
        broker.start()
        try:
            (worker,) = await credited_workers(actx, broker, 50, b"greedy")
            client = dealer(actx, broker.frontend_endpoint)
            await client.send_multipart([b"", b"first"])
            await answer(worker, await recv(worker))
            for n in range(3):
                await client.send_multipart([b"", b"req%d" % n])
            await recv(worker), await recv(worker)
            assert await nothing_arrives(worker)
        finally:
            broker.close()

    async def test_idle_workers_first_then_the_one_holding_fewest(
        self, actx, brokers, quick_workers
    ):
        broker = brokers("lb")
        a, b = await credited_workers(actx, broker, 4, b"a", b"b")
        client = dealer(actx, broker.frontend_endpoint)
        for worker in (a, b):  # one answered request each: both are quick now
            await client.send_multipart([b"", b"warm"])
            await answer(worker, await recv(worker))
            await recv(client)
            await holding(broker, 0)
        got: dict[bytes, list[bytes]] = {b"a": [], b"b": []}
        for n in range(5):
            await client.send_multipart([b"", b"req%d" % n])
            await holding(broker, n + 1)
        for name, worker in ((b"a", a), (b"b", b)):
            while not await nothing_arrives(worker, 100):
                got[name].append((await worker.recv_multipart())[-1])
        assert sorted(map(len, got.values())) == [2, 3]
        assert sorted(got[b"a"] + got[b"b"]) == [b"req%d" % n for n in range(5)]

    async def test_a_slow_worker_holds_one_request_at_a_time(self, actx, brokers, monkeypatch):
        monkeypatch.setattr(broker_module, "STACK_SERVICE_S", 0.5)
        monkeypatch.setattr(broker_module, "STACK_STALL_S", 60.0)
        broker = brokers("lb")
        slow, quick = await credited_workers(actx, broker, 4, b"slow", b"quick")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"warm-slow"])
        slow_first = await recv(slow)
        await client.send_multipart([b"", b"warm-quick"])
        await answer(quick, await recv(quick))  # well within STACK_SERVICE_S
        await asyncio.sleep(0.6)  # what makes it slow: longer than STACK_SERVICE_S
        await answer(slow, slow_first)
        await recv(client), await recv(client)
        await holding(broker, 0)

        # Each holds one; more would suit the slow one by count (it holds fewest), but it
        # answers too slowly to have work stacked on it.
        for n in range(6):
            await client.send_multipart([b"", b"req%d" % n])
        assert (await recv(quick))[-1] == b"req0"
        assert (await recv(slow))[-1] == b"req1"
        assert [(await recv(quick))[-1] for _ in range(3)] == [b"req2", b"req3", b"req4"]
        assert await nothing_arrives(slow) and await nothing_arrives(quick, 0)
        assert broker.counters()["held"] == 5  # req5 waits for the first free credit

    async def test_no_work_is_stacked_on_a_stalled_worker(self, actx, brokers, monkeypatch):
        monkeypatch.setattr(broker_module, "STACK_SERVICE_S", 60.0)
        monkeypatch.setattr(broker_module, "STACK_STALL_S", 0.3)
        broker = brokers("lb")
        (worker,) = await credited_workers(actx, broker, 4, b"w")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"warm"])
        await answer(worker, await recv(worker))
        await recv(client)
        await client.send_multipart([b"", b"stuck"])
        stuck = await recv(worker)
        await asyncio.sleep(0.4)  # what stalls it: its request is older than STACK_STALL_S
        await client.send_multipart([b"", b"next"])
        await wait_for(lambda: broker.counters()["queued"] == 1)
        assert await nothing_arrives(worker)
        await answer(worker, stuck)
        assert (await recv(worker))[-1] == b"next"

    async def test_each_held_request_of_a_dead_worker_is_requeued_in_order(
        self, actx, brokers, quick_workers
    ):
        broker = brokers("lb")
        (doomed,) = await credited_workers(actx, broker, 3, b"doomed")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"warm"])
        await answer(doomed, await recv(doomed))
        for n in range(3):
            await client.send_multipart([b"", b"req%d" % n])
        held = [await recv(doomed) for _ in range(3)]
        broker.forget("doomed")
        await wait_for(lambda: broker.counters()["queued"] == 3)
        assert broker.counters()["held"] == 0
        heir = dealer(actx, broker.backend_endpoint, b"heir")
        await heir.send_multipart(counted_ready(1, 0))
        for request in held:
            again = await recv(heir)
            assert again == request
            await answer(heir, again)
        assert broker.counters()["requests_requeued"] == 3


class TestReckoning:
    """A READY settles what the broker thinks a worker holds, so a lost message frees it."""

    async def test_a_counted_ready_frees_the_credit_of_a_lost_reply(self, actx, brokers):
        broker = brokers("lb")
        (worker,) = await credited_workers(actx, broker, 1, b"w")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req0"])
        await recv(worker)  # its reply is lost: the worker's send failed
        await client.send_multipart([b"", b"req1"])
        assert await nothing_arrives(worker)
        await worker.send_multipart(counted_ready(1, 1))  # a heartbeat: took 1, answered all
        assert (await recv(worker))[-1] == b"req1"
        assert broker.counters()["unanswered"] == 1

    async def test_a_request_on_its_way_is_still_held_after_a_ready(self, actx, brokers):
        broker = brokers("lb")
        (worker,) = await credited_workers(actx, broker, 1, b"w")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req0"])
        request = await recv(worker)
        received = broker.counters()["backend_in"]
        await worker.send_multipart(counted_ready(1, 0))  # sent before it took req0
        await wait_for(lambda: broker.counters()["backend_in"] == received + 5)
        await client.send_multipart([b"", b"req1"])
        assert await nothing_arrives(worker)
        await answer(worker, request)
        assert await recv(client) == [b"", b"rep"]
        assert (await recv(worker))[-1] == b"req1"
        assert broker.counters()["unanswered"] == 0

    async def test_a_request_lost_on_the_way_is_given_up_a_heartbeat_later(self, actx, brokers):
        broker = brokers("lb")
        (worker,) = await credited_workers(actx, broker, 1, b"w")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req0"])
        await recv(worker)  # as if it never arrived: the worker does not count it
        for _ in range(2):  # the first could have crossed req0; the second cannot have
            received = broker.counters()["backend_in"]
            await worker.send_multipart(counted_ready(1, 0))
            await wait_for(lambda received=received: broker.counters()["backend_in"] > received)
        await client.send_multipart([b"", b"req1"])
        assert (await recv(worker))[-1] == b"req1"

    async def test_a_bare_ready_a_heartbeat_later_frees_a_worker_without_counts(
        self, actx, brokers
    ):
        broker = brokers("lb")
        (worker,) = await ready_workers(actx, broker, b"old")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req0"])
        await recv(worker)  # and its reply is lost
        await client.send_multipart([b"", b"req1"])
        await worker.send_multipart([b"", READY])  # could have crossed req0: still held
        assert await nothing_arrives(worker)
        await worker.send_multipart([b"", READY])
        assert (await recv(worker))[-1] == b"req1"

    async def test_a_worker_met_again_under_its_id_starts_afresh(self, actx, brokers):
        """Its count says it took more than this broker sent (it served another broker)."""
        broker = brokers("lb")
        (worker,) = await credited_workers(actx, broker, 1, b"w")
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req0"])
        await recv(worker)
        await worker.send_multipart(counted_ready(1, 40))
        await client.send_multipart([b"", b"req1"])
        assert (await recv(worker))[-1] == b"req1"

    @pytest.mark.parametrize(
        "ready",
        [
            [b"", READY, b"x", b"0"],
            [b"", READY, b"0", b"0"],
            [b"", READY, b"2", b"-1"],
        ],
    )
    async def test_a_malformed_ready_is_dropped_and_counted(self, actx, brokers, ready):
        broker = brokers("lb")
        worker = dealer(actx, broker.backend_endpoint, b"w")
        await worker.send_multipart(ready)
        await wait_for(lambda: broker.counters()["backend_dropped"] == 1)
        assert broker.counters()["idle_workers"] == 0


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


def test_lb_counters_extend_the_proxy_s():
    assert LoadBalancingBroker.counter_names[: len(COUNTER_NAMES)] == COUNTER_NAMES


def random_message(rng: random.Random, *, ready_like: bool) -> list[bytes]:
    """A multipart message of any shape: empty frames, READY-like ones, odd counts, noise."""
    pieces = [b"", b"", READY, b"DRAIN", b"1", b"0", b"-1", b"x", b"99999999999999999999"]
    frames = []
    for _ in range(rng.choice([1, 1, 2, 3, 4, 5, 6, 40])):
        if rng.random() < 0.6:
            frames.append(rng.choice(pieces))
        else:
            frames.append(rng.randbytes(rng.choice([1, 5, 33, 300])))
    if ready_like and rng.random() < 0.3:
        frames[:3] = [b"", READY, rng.choice(pieces)]
    return frames


async def echo(worker: zmq.asyncio.Socket) -> None:
    """Answer every request `worker` gets, for ever."""
    while True:
        request = await worker.recv_multipart()
        await worker.send_multipart([*request[:-1], b"ok"])


class TestHostileTraffic:
    """Whatever shape a message has, on either side, the broker drops or routes it, and goes on."""

    async def test_random_messages_on_both_sides_leave_it_routing(self, actx, brokers):
        broker = brokers("lb")
        (sink,) = await ready_workers(actx, broker, b"sink")
        answering = asyncio.create_task(echo(sink))
        hostile_worker = dealer(actx, broker.backend_endpoint, b"hostile")
        hostile_client = dealer(actx, broker.frontend_endpoint)
        rng = random.Random(15)
        frames_sent = 0
        try:
            for _ in range(400):
                message = random_message(rng, ready_like=False)
                frames_sent += len(message) + 1  # and the routing id the ROUTER adds
                await hostile_client.send_multipart(message)
                await hostile_worker.send_multipart(random_message(rng, ready_like=True))
            await wait_for(lambda: broker.counters()["frontend_in"] == frames_sent, timeout=10)
            counts = broker.counters()
            assert counts["frontend_dropped"] > 0 and counts["backend_dropped"] > 0
            broker.forget("hostile")  # what it holds goes to the sink
            client = dealer(actx, broker.frontend_endpoint)
            await client.send_multipart([b"", b"still routing?"])
            assert await recv(client) == [b"", b"ok"]
            assert broker._thread is not None and broker._thread.is_alive()
        finally:
            answering.cancel()

    async def test_an_order_about_an_unknown_or_overlong_worker_changes_nothing(
        self, actx, brokers, caplog
    ):
        broker = brokers("lb")
        (worker,) = await ready_workers(actx, broker, b"w")
        for order in (broker.forget, broker.retire, broker.drain):
            order("nobody")
            order("x" * 300)  # longer than any routing id
        broker.counters()  # the orders are carried out before it answers
        assert "cannot tell worker b'nobody' to drain" in caplog.text
        client = dealer(actx, broker.frontend_endpoint)
        await client.send_multipart([b"", b"req"])
        assert (await recv(worker))[-1] == b"req"


KIB = 1024


async def recv_any(socks: list[zmq.asyncio.Socket]) -> tuple[zmq.asyncio.Socket, list[bytes]]:
    """The first message any of `socks` receives, and which one did."""
    poller = zmq.asyncio.Poller()
    for sock in socks:
        poller.register(sock, zmq.POLLIN)
    ready = await poller.poll(RECEIVE_TIMEOUT_MS)
    assert ready, "nothing arrived"
    sock = ready[0][0]
    return sock, await sock.recv_multipart()


class TestReplyBudget:
    async def test_large_replies_to_a_client_that_does_not_read_stop_at_its_budget(
        self, actx, ipc_endpoint, caplog
    ):
        broker = LoadBalancingBroker(ipc_endpoint("f"), ipc_endpoint("b"), reply_budget=KIB * KIB)
        broker.start()
        try:
            (worker,) = await ready_workers(actx, broker, b"w")
            reader = actx.socket(zmq.DEALER)
            reader.setsockopt(zmq.LINGER, 0)
            reader.setsockopt(zmq.RCVHWM, 1)
            reader.setsockopt(zmq.RCVBUF, 4096)
            reader.connect(broker.frontend_endpoint)
            large = b"x" * (256 * KIB)
            for n in range(24):
                await reader.send_multipart([b"", b"req%d" % n])
                await answer(worker, await recv(worker), large)
            await wait_for(lambda: broker.counters()["held"] == 0)
            dropped = broker.counters()["replies_dropped_unread"]
            assert 0 < dropped < 24
            warnings = [r for r in caplog.records if "bytes of replies unread" in r.message]
            assert len(warnings) == 1

            for _ in range(24 - dropped):
                assert await recv(reader) == [b"", large]
            assert await nothing_arrives(reader)
            # Read: libzmq let go of them, so a large reply goes through again.
            await reader.send_multipart([b"", b"again"])
            await answer(worker, await recv(worker), large)
            assert await recv(reader) == [b"", large]
            assert broker.counters()["replies_dropped_unread"] == dropped
        finally:
            broker.close()


class TestShutdown:
    async def test_close_while_requests_are_held_and_queued(self, actx, brokers):
        broker = brokers("lb")
        _workers = await ready_workers(actx, broker, b"a", b"b")  # kept open
        client = dealer(actx, broker.frontend_endpoint)
        for n in range(4):
            await client.send_multipart([b"", b"req%d" % n])
        await holding(broker, 2)
        broker.forget("a")
        await wait_for(lambda: broker.counters()["queued"] == 1)
        broker.close(timeout=5)
        assert broker._thread is not None and not broker._thread.is_alive()
        assert broker.counters()["held"] == 1 and broker.counters()["queued"] == 1

    async def test_requests_requeued_then_terminated_are_let_go(
        self, actx, ipc_endpoint, quick_workers
    ):
        """Each round leaves 64 requests of 60 KiB queued and 8 large replies unread in a
        broker that is then closed: what it held must be freed, so memory stops growing."""
        map_large_allocations()
        process = psutil.Process()
        body = b"r" * (60 * KIB)
        sizes = []
        for round_ in range(8):
            n = round_
            broker = LoadBalancingBroker(ipc_endpoint(f"f{n}"), ipc_endpoint(f"b{n}"))
            broker.start()
            sockets = []
            try:
                workers = []
                for i in range(4):
                    worker = dealer(actx, broker.backend_endpoint, b"w%d" % i)
                    await worker.send_multipart(counted_ready(16, 0))
                    workers.append(worker)
                await wait_for(lambda broker=broker: broker.counters()["idle_workers"] == 4)
                client = dealer(actx, broker.frontend_endpoint)
                reader = dealer(actx, broker.frontend_endpoint)
                reader.setsockopt(zmq.RCVHWM, 1)
                sockets = [*workers, client, reader]
                for _ in workers:  # one answer each (idle longest first): quick, up to 16
                    await client.send_multipart([b"", b"warm"])
                    await answer(*await recv_any(workers))
                    await recv(client)
                for _ in range(8):
                    await reader.send_multipart([b"", b"large"])
                    worker, request = await recv_any(workers)
                    await answer(worker, request, body * 5)
                await wait_for(lambda broker=broker: broker.counters()["held"] == 0)
                for _ in range(64):
                    await client.send_multipart([b"", body])
                await wait_for(lambda broker=broker: broker.counters()["held"] == 64)
                for worker in workers:
                    while not await nothing_arrives(worker, 0):
                        await worker.recv_multipart()
                for i in range(4):
                    broker.forget(f"w{i}")
                await wait_for(lambda broker=broker: broker.counters()["queued"] == 64)
            finally:
                broker.close()
                for sock in sockets:
                    sock.close(linger=0)
            sizes.append(process.memory_info().rss)
        # A leak would add over 5 MiB a round (64 requests of 60 KiB, 8 replies of 300 KiB).
        assert sizes[-1] - sizes[1] < 8 * KIB * KIB, [size // KIB for size in sizes]


def test_a_broker_whose_thread_does_not_stop_leaves_its_sockets_alone(
    ipc_endpoint, monkeypatch, caplog
):
    """Closing the context under a loop still running would free its sockets under it: when
    the thread outlives the join, `close` logs and leaves them for the process's end."""
    broker = make_broker("lb", ipc_endpoint("front"), ipc_endpoint("back"))
    broker.start()
    thread = broker._thread
    try:
        monkeypatch.setattr(thread, "join", lambda timeout=None: None)
        monkeypatch.setattr(thread, "is_alive", lambda: True)
        broker.close(timeout=0)
        assert not broker._ctx.closed
        assert "did not stop" in caplog.text
    finally:
        monkeypatch.undo()
        thread.join(RECEIVE_TIMEOUT_MS / 1000)  # told to stop by close: it ends by itself
        if not thread.is_alive():
            broker._release()
    assert not thread.is_alive()


@pytest.mark.timeout(60)
def test_orders_to_a_loop_that_does_not_read_them_never_block(ipc_endpoint, caplog):
    """The cluster orders from its event loop: past the control pair's queue, orders to a loop
    not reading them (not started here; ended, elsewhere) are dropped and logged, not waited on."""
    broker = make_broker("lb", ipc_endpoint("front"), ipc_endpoint("back"))
    try:
        for n in range(3000):
            broker.forget(f"w{n}")
    finally:
        broker.close()
    assert "takes no orders" in caplog.text
