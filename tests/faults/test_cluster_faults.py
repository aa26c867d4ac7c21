"""Faults under load, on real processes over loopback: `zmqtui cluster` and `zmqtui serve`.

Workers killed and frozen while retrying clients keep requests in flight, the supervisor
killed outright and started again, a thousand clients that come and go. Asserted each time:
no request lost (every reply matched to its request by id, its content the file's), no
process outliving its parent, and a server whose memory and open files return to baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from faultkit import (
    START,
    Child,
    Children,
    ClusterUnderTest,
    gone,
    running_children,
    wait_in_thread,
)
from helpers import free_tcp_port, wait_for, wait_for_sync

from zmqtui.protocol import FileReply
from zmqtui.services import sockets
from zmqtui.services.requester import Requester, RequestResult

pytestmark = [pytest.mark.fault, pytest.mark.integration]

CONTENT = "served under fire ✓\n" * 40
KILL_AT = (200, 500, 800, 1100)
"""Answers after which a random worker is SIGKILLed: about one kill a second here, and always
spread over the whole load, however fast or slow the machine."""


@dataclass
class Stack:
    children: Children
    cluster: ClusterUnderTest
    serve: Child
    serve_endpoint: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults") / "root"
    root.mkdir()
    (root / "target.txt").write_text(CONTENT)
    return root


@pytest.fixture(scope="module")
def stack(served: Path) -> Iterator[Stack]:
    """A 3-worker cluster and a `zmqtui serve`, shared by the tests that leave them healthy."""
    with running_children() as children:
        # lb: a frozen worker holds at most what was stacked on it in the last few ms before
        # it stalled (up to its credit), all re-queued once it is found silent, which the
        # frozen-worker test relies on; rr under killed workers is covered in
        # tests/services/test_cluster.py.
        cluster = ClusterUnderTest(children, served, "--routing", "lb", workers=3)
        endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
        serve = children.start("serve", "--root", str(served), "--bind", endpoint, "--quiet")
        cluster.wait_bound()
        serve.wait_for_line(f"Listening for zmq requesters on {endpoint}")
        cluster.ready()
        yield Stack(children, cluster, serve, endpoint)


async def load(
    ctx: zmq.asyncio.Context,
    endpoint: str,
    results: list[RequestResult],
    *,
    clients: int,
    each: int,
    stop: asyncio.Event | None = None,
    timeout_ms: int = 1000,
    tries: int = 20,
) -> None:
    """`clients` Lazy Pirate clients, each sending up to `each` requests one after another."""

    async def client() -> None:
        async with Requester(ctx, endpoint, timeout_ms=timeout_ms, tries=tries) as requester:
            for _ in range(each):
                if stop is not None and stop.is_set():
                    return
                results.append(await requester.request("target.txt"))

    async with asyncio.TaskGroup() as group:
        for _ in range(clients):
            group.create_task(client())


def assert_none_lost(results: list[RequestResult], expected: int | None = None) -> None:
    """Every request answered with the file, by a reply that carries its own id."""
    if expected is not None:
        assert len(results) == expected
    failed = [r for r in results if not isinstance(r.reply, FileReply)]
    assert not failed, f"{len(failed)} of {len(results)} requests lost: {failed[:3]}"
    assert all(r.reply.id == r.request_id for r in results)
    assert all(r.reply.content == CONTENT for r in results)
    assert len({r.request_id for r in results}) == len(results)


def live_pids(cluster: ClusterUnderTest) -> list[int]:
    workers = cluster.listing()["workers"]
    return [w["pid"] for w in workers if w["state"] in ("ready", "busy")]


async def test_no_request_lost_while_workers_are_killed(stack: Stack, actx):
    cluster = stack.cluster
    before = await asyncio.to_thread(cluster.ready)
    results: list[RequestResult] = []
    kills: list[int] = []

    async def killer() -> None:
        for answered in KILL_AT:
            await wait_for(lambda answered=answered: len(results) >= answered, timeout=START)
            await asyncio.to_thread(stack.children.remember)
            # A worker killed before may still be listed until the supervisor reaps it.
            alive = await wait_in_thread(lambda: set(live_pids(cluster)) - set(kills))
            victim = random.choice(sorted(alive))
            os.kill(victim, signal.SIGKILL)
            kills.append(victim)

    killing = asyncio.create_task(killer())
    try:
        await load(actx, cluster.frontend, results, clients=3, each=500)
        await asyncio.wait_for(killing, timeout=START)
    finally:
        killing.cancel()

    assert_none_lost(results, expected=1500)
    assert len(kills) == len(KILL_AT)
    after = await asyncio.to_thread(cluster.ready, 3, lambda pid: pid in kills)
    assert sum(w["crashes"] for w in after) - sum(w["crashes"] for w in before) >= len(kills)
    handled = sum(w["requests"] for w in after) - sum(w["requests"] for w in before)
    assert handled >= len(results)  # workers count their own work, retried requests included


async def test_frozen_workers_are_ridden_out_then_replaced(stack: Stack, actx):
    """One worker frozen briefly and thawed, another frozen until found silent and replaced."""
    cluster = stack.cluster
    workers = [w["pid"] for w in await asyncio.to_thread(cluster.ready)]
    results: list[RequestResult] = []
    stop = asyncio.Event()
    running = asyncio.create_task(
        load(actx, cluster.frontend, results, clients=3, each=1000, stop=stop)
    )
    try:
        await wait_for(lambda: len(results) >= 30, timeout=START)
        thawed, frozen = random.sample(workers, 2)
        os.kill(thawed, signal.SIGSTOP)
        answered = len(results)
        await wait_for(lambda: len(results) >= answered + 60, timeout=START)  # others serve on
        os.kill(thawed, signal.SIGCONT)

        os.kill(frozen, signal.SIGSTOP)
        answered = len(results)
        await wait_in_thread(lambda: frozen not in [w["pid"] for w in cluster.listing()["workers"]])
        assert gone(frozen)
        await wait_for(lambda: len(results) >= answered + 60, timeout=START)
    finally:
        stop.set()
        for pid in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        await running

    assert_none_lost(results)
    await asyncio.to_thread(cluster.ready, 3, lambda pid: pid == frozen)


def connect_request_close(endpoint: str, cycles: int) -> None:
    """Each cycle a new client: connect, ask, close; every tenth leaves before the answer."""
    ctx = zmq.Context()
    payload = json.dumps({"path": "target.txt"}).encode()
    try:
        for cycle in range(cycles):
            sock = ctx.socket(zmq.REQ)
            try:
                sockets.configure(sock, max_message_bytes=None)
                sockets.connect(sock, endpoint)
                sock.send(payload)
                if cycle % 10 != 9:
                    assert sock.poll(5000), f"no reply in cycle {cycle}"
                    assert json.loads(sock.recv())["content"] == CONTENT
            finally:
                sock.close(linger=0)
    finally:
        ctx.destroy(linger=0)


@pytest.mark.parametrize("target", ["cluster", "serve"])
def test_a_thousand_clients_come_and_go_without_a_trace(stack: Stack, target: str):
    server, endpoint = (
        (stack.cluster.child, stack.cluster.frontend)
        if target == "cluster"
        else (stack.serve, stack.serve_endpoint)
    )
    connect_request_close(endpoint, 100)  # what the first connections allocate for good
    base_fds = min(server.fds() for _ in range(5))
    base_rss = server.rss()
    connect_request_close(endpoint, 1000)
    wait_for_sync(lambda: server.fds() <= base_fds + 2, timeout=10)
    assert server.rss() - base_rss < 6 * 2**20
    assert server.alive()


async def test_clients_ride_out_a_supervisor_killed_and_restarted(served: Path, actx):
    results: list[RequestResult] = []
    with running_children() as children:
        first = ClusterUnderTest(children, served, "--routing", "rr", workers=2)
        await asyncio.to_thread(first.wait_bound)
        workers = [w["pid"] for w in await asyncio.to_thread(first.ready)]
        runtime = await asyncio.to_thread(first.runtime_dir)
        running = asyncio.create_task(
            load(actx, first.frontend, results, clients=3, each=200, timeout_ms=700, tries=60)
        )
        try:
            await wait_for(lambda: len(results) >= 100, timeout=START)
            os.kill(first.pid, signal.SIGKILL)
            await wait_for(lambda: all(gone(pid) for pid in workers), timeout=15)
            shutil.rmtree(runtime, ignore_errors=True)  # a killed cluster cannot tidy up
            answered = len(results)
            second = ClusterUnderTest(children, served, "--routing", "rr", ports=first.ports)
            await asyncio.to_thread(second.wait_bound)
            await asyncio.wait_for(asyncio.shield(running), timeout=START)
            new_workers = {w["pid"] for w in await asyncio.to_thread(second.ready)}
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        assert not set(workers) & new_workers
    assert_none_lost(results, expected=600)
    assert {r.reply.pid for r in results[answered:]} <= set(workers) | new_workers
    assert {r.reply.pid for r in results[answered:]} & new_workers
