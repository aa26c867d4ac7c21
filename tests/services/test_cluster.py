"""The cluster with real worker processes: serving, stats, restarts, liveness, control, faults.

Every cluster here runs in the test's event loop with small timers; its workers are real OS
processes, stopped and reaped when the test ends (checked with psutil).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sys

import pytest
import zmq
import zmq.asyncio
from clusters import START, Snapshots, StartCluster, all_ready, live_states, process_alive
from helpers import wait_for

from zmqtui.protocol import ErrorReply, FileReply
from zmqtui.services import cluster as cluster_module
from zmqtui.services.broker import DEFAULT_ROUTING
from zmqtui.services.control import send_command
from zmqtui.services.requester import Requester, RequestResult, run_load
from zmqtui.services.sockets import EndpointError
from zmqtui.services.supervisor import RestartPolicy, Timings

pytestmark = pytest.mark.integration


async def ask(actx: zmq.asyncio.Context, endpoint: str, path: str = "target.txt") -> RequestResult:
    async with Requester(actx, endpoint, timeout_ms=2000, tries=5) as requester:
        return await requester.request(path)


@pytest.mark.parametrize("routing", ["lb", "rr"])
async def test_serves_files_and_publishes_stats(
    start_cluster: StartCluster, actx: zmq.asyncio.Context, routing: str
):
    cluster = await start_cluster(routing=routing)
    snapshots = Snapshots(actx, cluster.endpoints["stats"])
    try:
        await all_ready(cluster, 2)
        summary = await run_load(
            actx, cluster.endpoints["frontend"], "target.txt", 60, 4, timeout_ms=10_000, tries=1
        )
        assert (summary.replies, summary.unavailable) == (60, 0)
        pids = {slot.pid for slot in cluster.supervisor.slots}
        assert set(summary.replies_by_pid) <= pids

        snap = await snapshots.wait(lambda s: sum(w.requests for w in s.workers) == 60)
        assert snap.routing == routing
        assert snap.pid == os.getpid()
        assert {w.pid for w in snap.workers} == pids
        assert all(w.state in ("ready", "busy") and w.started for w in snap.workers)
        assert snap.broker["frontend_in"] >= 60
        assert snap.broker["frontend_out"] >= 60
        snap = await snapshots.wait(
            lambda s: all(
                w.memory_bytes and w.latency_ms is not None and w.last_heartbeat
                for w in s.workers
                if w.requests
            )
        )
        assert {w.pid: w.requests for w in snap.workers if w.requests} == dict(
            summary.replies_by_pid
        )
    finally:
        snapshots.close()


async def test_killed_worker_is_replaced_in_its_slot(
    start_cluster: StartCluster, actx: zmq.asyncio.Context
):
    cluster = await start_cluster()
    await all_ready(cluster, 2)
    slot = cluster.supervisor.slots[0]
    victim = slot.pid
    os.kill(victim, signal.SIGKILL)
    await wait_for(lambda: slot.pid != victim and slot.state == "ready", timeout=START)
    assert (slot.crashes, slot.restarts, slot.last_exit) == (1, 1, "killed by SIGKILL")
    assert not process_alive(victim)
    result = await ask(actx, cluster.endpoints["frontend"])
    assert isinstance(result.reply, FileReply)


async def test_stopped_worker_is_found_stale_and_replaced(
    start_cluster: StartCluster, actx: zmq.asyncio.Context
):
    cluster = await start_cluster(workers=1)
    snapshots = Snapshots(actx, cluster.endpoints["stats"])
    try:
        await all_ready(cluster, 1)
        slot = cluster.supervisor.slots[0]
        victim = slot.pid
        os.kill(victim, signal.SIGSTOP)
        stale = await snapshots.wait(lambda s: s.workers[0].state == "stale")
        assert stale.workers[0].pid == victim
        await wait_for(lambda: slot.pid != victim and slot.state == "ready", timeout=START)
        assert (slot.crashes, slot.last_exit) == (1, "killed by SIGKILL")
        assert isinstance((await ask(actx, cluster.endpoints["frontend"])).reply, FileReply)
    finally:
        snapshots.close()


async def test_crash_loop_backs_off_then_marks_the_slot_errored(
    start_cluster: StartCluster, caplog: pytest.LogCaptureFixture
):
    policy = RestartPolicy(delay=0.01, max_delay=0.04, min_uptime=5.0, max_unstable=4)
    caplog.set_level(logging.WARNING, logger="zmqtui.services.supervisor")
    cluster = await start_cluster(
        workers=1,
        worker_command=(sys.executable, "-c", "raise SystemExit(3)"),
        timings=Timings(heartbeat_ms=200, restart=policy),
    )
    slot = cluster.supervisor.slots[0]
    await wait_for(lambda: slot.state == "errored", timeout=START)
    assert (slot.crashes, slot.restarts, slot.last_exit) == (4, 3, "exit code 3")
    errored = [r for r in caplog.records if "errored" in r.getMessage()]
    assert len(errored) == 1 and "slot 0" in errored[0].getMessage()
    delays = [
        r.getMessage().rsplit(" ", 1)[-1]
        for r in caplog.records
        if "restarting in" in r.getMessage()
    ]
    assert delays == ["0.01s", "0.02s", "0.04s"]
    await asyncio.sleep(0.2)  # an errored slot stays down
    assert (slot.state, slot.restarts) == ("errored", 3)


async def test_an_errored_slot_is_what_list_shows_to_restart_kill_and_scale(
    start_cluster: StartCluster, actx: zmq.asyncio.Context
):
    policy = RestartPolicy(delay=0.01, max_delay=0.04, min_uptime=5.0, max_unstable=2)
    cluster = await start_cluster(
        workers=1,
        worker_command=(sys.executable, "-c", "raise SystemExit(3)"),
        timings=Timings(heartbeat_ms=200, restart=policy),
    )
    slot = cluster.supervisor.slots[0]

    async def command(cmd: str, **args) -> dict:
        return await send_command(actx, cluster.endpoints["control"], cmd, 5000, **args)

    async def errored() -> int:
        await wait_for(lambda: slot.state == "errored", timeout=START)
        (worker,) = (await command("list"))["workers"]
        assert worker["state"] == "errored"
        return worker["pid"]

    pid = await errored()
    killed = await command("kill", pid=pid)
    assert killed["ok"] is False and "already exited" in killed["error"]
    restarted = await command("restart", pid=pid)
    assert restarted["ok"], restarted
    assert f"pid {pid} had exited (exit code 3)" in restarted["message"]
    assert slot.restarts == 2
    pid = await errored()  # its restarts given back: two more quick deaths
    assert slot.restarts == 3
    scaled = await command("scale", n=1)
    assert scaled["ok"] and "errored slots started again: 0" in scaled["message"]
    assert slot.restarts == 4 and slot.pid != pid
    pid = await errored()
    assert (await command("remove", pid=pid))["ok"]
    assert cluster.supervisor.slots == []


async def test_control_commands(
    start_cluster: StartCluster, actx: zmq.asyncio.Context, monkeypatch: pytest.MonkeyPatch
):
    cluster = await start_cluster(workers=1)
    control = cluster.endpoints["control"]
    supervisor = cluster.supervisor

    async def command(cmd: str, **args) -> dict:
        return await send_command(actx, control, cmd, 5000, **args)

    await all_ready(cluster, 1)
    listed = await command("list")
    assert listed["ok"] and listed["routing"] == DEFAULT_ROUTING
    assert [w["pid"] for w in listed["workers"]] == [supervisor.slots[0].pid]

    added = await command("add", n=2)
    assert added["ok"] and added["message"].count("slot") == 2
    assert (await command("scale", n=3))["ok"]
    await all_ready(cluster, 3)
    assert sorted(s.index for s in supervisor.slots) == [0, 1, 2]
    monkeypatch.setattr(cluster_module, "MAX_WORKERS", 3)
    refused = await command("add")
    assert refused["ok"] is False and "3 local workers" in refused["error"]
    assert len(supervisor.slots) == 3

    removed = supervisor.slots[1].pid
    reply = await command("remove", pid=removed)
    assert reply["ok"] and str(removed) in reply["message"]
    assert (await command("scale", n=1))["ok"]
    assert len(supervisor.slots) == 1
    await wait_for(lambda: not process_alive(removed), timeout=10)

    slot = supervisor.slots[0]
    old = slot.pid
    assert (await command("restart", pid=old))["ok"]
    await wait_for(lambda: slot.pid != old and slot.state == "ready", timeout=START)
    assert (slot.restarts, slot.crashes) == (1, 0)
    await wait_for(lambda: not process_alive(old), timeout=10)

    old = slot.pid
    assert (await command("kill", pid=old))["ok"]
    await wait_for(lambda: slot.pid != old and slot.state == "ready", timeout=START)
    assert (slot.restarts, slot.crashes) == (2, 1)

    for bad in (
        command("kill", pid=1),
        command("restart", pid=999_999_999),
        command("scale"),
        command("scale", n=-1),
        command("add", n=0),
        command("launch"),
    ):
        reply = await bad
        assert reply["ok"] is False and reply["error"]
    assert isinstance((await ask(actx, cluster.endpoints["frontend"])).reply, FileReply)

    assert (await command("stop"))["ok"]
    await wait_for(lambda: cluster.bound.is_set() and not supervisor.pids(), timeout=10)


async def test_second_cluster_on_the_same_endpoints_fails_and_leaves_the_first_alone(
    start_cluster: StartCluster, actx: zmq.asyncio.Context, ipc_endpoint
):
    backend = ipc_endpoint("backend")
    first = await start_cluster(workers=1, backend=backend)
    await all_ready(first, 1)
    with pytest.raises(EndpointError, match="already in use"):
        await start_cluster(workers=1, frontend=first.endpoints["frontend"])
    with pytest.raises(EndpointError, match="already in use"):
        await start_cluster(workers=1, backend=backend)
    assert isinstance((await ask(actx, first.endpoints["frontend"])).reply, FileReply)
    assert live_states(first) in (["ready"], ["busy"])


@pytest.mark.parametrize("routing", ["lb", "rr"])
async def test_bad_input_never_takes_down_the_broker_or_a_worker(
    start_cluster: StartCluster, actx: zmq.asyncio.Context, tcp_endpoint, routing: str
):
    cluster = await start_cluster(workers=1, routing=routing, frontend=tcp_endpoint())
    await all_ready(cluster, 1)
    frontend = cluster.endpoints["frontend"]
    worker = cluster.supervisor.slots[0].pid

    host, port = frontend.removeprefix("tcp://").rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(os.urandom(4096) + b"\xff" * 64)
    await writer.drain()
    writer.close()

    dealer = actx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.connect(frontend)
    for frames in (
        [b"no delimiter"],
        [b"", b"not json"],
        [b"", b"{]"],
        [b"", b'{"path": 5}'],
        [b"", b"a", b"b"],
        [b"x", b"", b"", b""],
        [b"", b'{"path": "../../etc/passwd"}'],
        [b"", b'{"path": "' + b"a" * (70 * 1024) + b'"}'],
    ):
        await dealer.send_multipart(frames)
    dealer.close(linger=0)

    answered = await ask(actx, frontend, "missing.txt")
    assert isinstance(answered.reply, ErrorReply) and answered.reply.code == "NOT_FOUND"
    assert isinstance((await ask(actx, frontend)).reply, FileReply)
    assert cluster.supervisor.slots[0].pid == worker
    assert cluster.supervisor.slots[0].crashes == 0


async def test_remote_worker_joins_over_tcp_and_leaves(
    start_cluster: StartCluster, actx: zmq.asyncio.Context, tcp_endpoint, processes, served_root
):
    for _ in range(20):
        backend = tcp_endpoint()
        port = int(backend.rsplit(":", 1)[1])
        try:
            cluster = await start_cluster(workers=0, backend=backend)
        except EndpointError:
            continue  # the heartbeat port (backend + 1) was taken
        break
    assert cluster.endpoints["heartbeat"] == f"tcp://127.0.0.1:{port + 1}"
    worker = processes.start(
        "worker", "--connect", backend, "--root", str(served_root), "--heartbeat-ms", "200"
    )
    await wait_for(lambda: live_states(cluster) == ["ready"], timeout=START)
    slot = cluster.supervisor.slots[0]
    assert slot.remote and slot.pid == worker.pid
    result = await ask(actx, cluster.endpoints["frontend"])
    assert isinstance(result.reply, FileReply) and result.reply.pid == worker.pid
    await wait_for(lambda: slot.stats().requests == 1, timeout=5)
    stats = slot.stats()
    assert stats.remote and stats.host

    worker.send_signal(signal.SIGTERM)
    await wait_for(lambda: not cluster.supervisor.slots, timeout=10)
    assert worker.wait(timeout=10) == 0


@pytest.mark.slow
@pytest.mark.parametrize("routing", ["lb", "rr"])
async def test_no_request_is_lost_while_workers_are_killed(
    start_cluster: StartCluster, actx: zmq.asyncio.Context, routing: str
):
    cluster = await start_cluster(workers=3, routing=routing)
    await all_ready(cluster, 3)
    supervisor = cluster.supervisor
    results: list[RequestResult] = []
    kills: list[int] = []

    async def killer() -> None:
        while True:
            await asyncio.sleep(0.5)
            live = [s.pid for s in supervisor.slots if s.state in ("ready", "busy")]
            if live:
                victim = random.choice(live)
                kills.append(victim)
                os.kill(victim, signal.SIGKILL)

    async def client(count: int) -> None:
        async with Requester(actx, frontend, timeout_ms=500, tries=20) as requester:
            for _ in range(count):
                results.append(await requester.request("target.txt"))
                await asyncio.sleep(0.02)  # spread the load over several kills

    frontend = cluster.endpoints["frontend"]
    killing = asyncio.create_task(killer())
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(4):
                group.create_task(client(50))
    finally:
        killing.cancel()
    assert len(kills) >= 2
    assert len(results) == 200
    assert all(isinstance(r.reply, FileReply) and r.reply.id == r.request_id for r in results)
    assert len({r.request_id for r in results}) == 200
    counted = sum(slot.counters().requests for slot in supervisor.slots)
    assert counted >= len(results)
