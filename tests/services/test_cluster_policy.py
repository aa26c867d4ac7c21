"""The cluster's pure parts: restart backoff, exit descriptions, control commands, the table."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
import zmq.asyncio

from zmqtui.commands.ctl import format_workers
from zmqtui.protocol import ClusterSnapshot, WorkerStats
from zmqtui.services import supervisor as supervisor_module
from zmqtui.services.cluster import local_endpoint
from zmqtui.services.control import (
    BadCommand,
    ControlError,
    ControlRequest,
    ControlServer,
    decode_command,
    send_command,
)
from zmqtui.services.supervisor import Backoff, RestartPolicy, Supervisor, Timings, describe_exit
from zmqtui.services.worker import Counters, Heartbeat


class TestBackoff:
    def test_doubles_up_to_the_cap(self):
        backoff = Backoff(RestartPolicy(delay=0.1, max_delay=0.5, max_unstable=100))
        assert [backoff.after_crash(0.0) for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]

    def test_resets_after_a_stable_run(self):
        backoff = Backoff(RestartPolicy(delay=0.1, stable_after=30))
        for _ in range(3):
            backoff.after_crash(5.0)
        assert backoff.after_crash(31.0) == 0.1
        assert backoff.after_crash(5.0) == 0.2

    def test_unstable_runs_in_a_row_stop_the_slot(self):
        backoff = Backoff(RestartPolicy(min_uptime=1.0, max_unstable=3))
        assert backoff.after_crash(0.5) is not None
        assert backoff.after_crash(2.0) is not None  # a run over min_uptime breaks the streak
        assert backoff.after_crash(0.5) is not None
        assert backoff.after_crash(0.5) is not None
        assert backoff.after_crash(0.5) is None

    def test_defaults_follow_the_design(self):
        policy = RestartPolicy()
        assert (policy.delay, policy.max_delay, policy.stable_after) == (0.1, 15.0, 30.0)
        assert (policy.min_uptime, policy.max_unstable) == (1.0, 10)


def test_exit_descriptions():
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(0) == "exit code 0"


def test_wildcard_binds_are_reached_on_loopback():
    assert local_endpoint("tcp://0.0.0.0:7000") == "tcp://127.0.0.1:7000"
    assert local_endpoint("tcp://[::]:7000") == "tcp://[::1]:7000"
    assert local_endpoint("ipc:///x") == "ipc:///x"


class TestDecodeCommand:
    @pytest.mark.parametrize(
        ("obj", "expected"),
        [
            ({"cmd": "list"}, ControlRequest("list")),
            ({"cmd": "scale", "n": 4, "id": "x"}, ControlRequest("scale", n=4, id="x")),
            ({"cmd": "remove"}, ControlRequest("remove")),
            ({"cmd": "remove", "pid": 12}, ControlRequest("remove", pid=12)),
            ({"cmd": "kill", "pid": 12}, ControlRequest("kill", pid=12)),
        ],
    )
    def test_valid(self, obj, expected):
        assert decode_command([json.dumps(obj).encode()]) == expected

    @pytest.mark.parametrize(
        "frames",
        [
            [b"not json"],
            [b"[]"],
            [b'{"cmd": "explode"}'],
            [b'{"cmd": "scale"}'],
            [b'{"cmd": "scale", "n": -1}'],
            [b'{"cmd": "scale", "n": 100000}'],
            [b'{"cmd": "scale", "n": true}'],
            [b'{"cmd": "kill"}'],
            [b'{"cmd": "kill", "pid": "12"}'],
            [b'{"cmd": "list", "id": 5}'],
            [b'{"cmd": "list"}', b"extra"],
            [b"\xff"],
        ],
    )
    def test_invalid(self, frames):
        with pytest.raises(BadCommand):
            decode_command(frames)


async def test_control_server_answers_everything_and_runs_a_retried_command_once(
    actx: zmq.asyncio.Context, ipc_endpoint
):
    ran: list[ControlRequest] = []

    async def handler(request: ControlRequest) -> dict:
        ran.append(request)
        if request.cmd == "stop":
            raise RuntimeError("boom")
        return {"ok": True, "message": f"did {request.cmd}"}

    server = ControlServer(actx, ipc_endpoint("ctl"), handler)
    serving = asyncio.create_task(server.run())
    try:
        reply = await send_command(actx, server.endpoint, "add")
        assert reply["ok"] and reply["message"] == "did add"
        bad = await send_command(actx, server.endpoint, "explode")
        assert bad == {"ok": False, "error": bad["error"]} and "unknown command" in bad["error"]
        failed = await send_command(actx, server.endpoint, "stop")
        assert failed["ok"] is False and "boom" in failed["error"]

        raw = json.dumps({"cmd": "add", "id": "same"}).encode()
        for _ in range(2):
            sock = actx.socket(zmq.REQ)
            sock.connect(server.endpoint)
            await sock.send(raw)
            assert json.loads(await sock.recv())["id"] == "same"
            sock.close(linger=0)
        assert [r.cmd for r in ran] == ["add", "stop", "add"]
    finally:
        serving.cancel()
        server.close()


async def test_control_server_refuses_a_reused_id_with_another_command(
    actx: zmq.asyncio.Context, ipc_endpoint
):
    ran: list[ControlRequest] = []

    async def handler(request: ControlRequest) -> dict:
        ran.append(request)
        return {"ok": True, "message": f"did {request.cmd}"}

    async def ask(**command) -> dict:
        sock = actx.socket(zmq.REQ)
        try:
            sock.connect(server.endpoint)
            await sock.send(json.dumps(command).encode())
            assert await sock.poll(5000), "no reply"
            return json.loads(await sock.recv())
        finally:
            sock.close(linger=0)

    server = ControlServer(actx, ipc_endpoint("ctl"), handler)
    serving = asyncio.create_task(server.run())
    try:
        assert (await ask(cmd="list", id="x1"))["message"] == "did list"
        refused = await ask(cmd="scale", n=3, id="x1")
        assert refused["ok"] is False and refused["id"] == "x1"
        assert "x1" in refused["error"] and "another command" in refused["error"]
        assert (await ask(cmd="scale", n=2, id="x2"))["ok"]
        assert (await ask(cmd="scale", n=4, id="x2"))["ok"] is False  # the arguments count too
        assert (await ask(cmd="list", id="x1"))["message"] == "did list"  # a true retry
        assert [(r.cmd, r.n) for r in ran] == [("list", None), ("scale", 2)]
    finally:
        serving.cancel()
        server.close()


async def test_control_server_outlives_a_message_without_envelope(
    actx: zmq.asyncio.Context, ipc_endpoint
):
    """REP reports such a message ready, then drops it: the receive must not end `run`."""

    async def handler(request: ControlRequest) -> dict:
        return {"ok": True}

    server = ControlServer(actx, ipc_endpoint("ctl"), handler)
    serving = asyncio.create_task(server.run())
    dealer = actx.socket(zmq.DEALER)
    try:
        dealer.connect(server.endpoint)
        await dealer.send(b'{"cmd": "list"}')
        assert not await dealer.poll(300, zmq.POLLIN)  # nobody to answer
        assert not serving.done()
        assert (await send_command(actx, server.endpoint, "list"))["ok"]
    finally:
        dealer.close(linger=0)
        serving.cancel()
        server.close()


async def test_control_server_bad_request_from_a_peer_that_hung_up_costs_no_one_a_reply(
    actx: zmq.asyncio.Context, ipc_endpoint
):
    """libzmq's REP loses the next reply it sends, to anyone, after reading a request without
    envelope from a peer it can no longer write to; the control server must not."""

    async def handler(request: ControlRequest) -> dict:
        return {"ok": True}

    server = ControlServer(actx, ipc_endpoint("ctl"), handler)
    greeting = b"\xff" + bytes(8) + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\x00") + bytes(32)
    ready = b"\x05READY\x0bSocket-Type" + (6).to_bytes(4, "big") + b"DEALER"
    with socket.socket(socket.AF_UNIX) as raw:
        raw.settimeout(10)
        raw.connect(server.endpoint.removeprefix("ipc://"))
        raw.sendall(greeting + bytes([0x04, len(ready)]) + ready)
        received = b""
        while len(received) < 64:  # the server's greeting: the connection is up
            received += raw.recv(64 - len(received))
        raw.sendall(b"\x01\x01x\x00\x01y" + b"\x02" + (1 << 40).to_bytes(8, "big"))
        while raw.recv(4096):  # the server hangs up on the oversized frame
            pass
    serving = asyncio.create_task(server.run())  # reads the bad request after its peer left
    try:
        assert (await send_command(actx, server.endpoint, "list", tries=1))["ok"]
    finally:
        serving.cancel()
        server.close()


async def test_send_command_gives_up_without_a_reply(actx: zmq.asyncio.Context, ipc_endpoint):
    with pytest.raises(ControlError, match="no reply"):
        await send_command(actx, ipc_endpoint("nobody"), "list", 50, tries=2)


def test_worker_table():
    snapshot = ClusterSnapshot(
        pid=1,
        timestamp=0,
        endpoints={"frontend": "tcp://127.0.0.1:60401", "backend": "ipc:///b"},
        routing="lb",
        broker={"frontend_in": 30, "frontend_out": 30},
        workers=[
            WorkerStats(
                slot=0,
                pid=42,
                state="ready",
                requests=10,
                started=1000,
                latency_ms=0.5,
                cpu_percent=1.5,
                memory_bytes=30 * 1024 * 1024,
            ),
            WorkerStats(slot=1, pid=43, state="errored", crashes=10, last_exit="exit code 3"),
            WorkerStats(slot=2, pid=9, state="ready", remote=True, started=1000, host="far"),
        ],
    )
    table = format_workers({"ok": True, **snapshot.to_wire()}, now_ms=66_000).splitlines()
    assert "routing lb" in table[0] and "30 frames in" in table[0]
    assert table[1].split()[:3] == ["SLOT", "PID", "STATE"]
    assert table[2].split() == [
        "0",
        "42",
        "ready",
        "10",
        "0",
        "0",
        "0",
        "1m05s",
        "0.5ms",
        "1.5",
        "30.0M",
        "-",
    ]
    assert table[3].split()[:3] == ["1", "43", "errored"]
    assert table[3].endswith("exit code 3")
    assert table[4].startswith("2 (remote on far)")  # named by host and pid


def test_worker_table_escapes_a_remote_hosts_name():
    hostile = WorkerStats(slot=0, pid=9, state="ready", remote=True, host="h\x1b[2Jx")
    snapshot = ClusterSnapshot(
        pid=1, timestamp=0, endpoints={}, routing="lb", broker={}, workers=[hostile]
    )
    reply = {"ok": True, **snapshot.to_wire()}
    assert "(remote on h\\x1b[2Jx)" in format_workers(reply, now_ms=0)


class FakeBroker:
    def __init__(self) -> None:
        self.orders: list[tuple[str, str]] = []

    def forget(self, worker_id: str, *, revivable: bool = False) -> None:
        self.orders.append(("revivable" if revivable else "forget", worker_id))

    def retire(self, worker_id: str) -> None:
        self.orders.append(("retire", worker_id))


def beat(worker: str = "far-1", slot: int | None = None, **extra) -> Heartbeat:
    return Heartbeat(
        worker=worker,
        pid=4242,
        host="far",
        slot=slot,
        started=1,
        interval_ms=1000,
        counters=Counters(requests=extra.pop("requests", 0)),
        busy=extra.pop("busy", False),
        final=extra.pop("final", False),
    )


class TestRemoteWorkers:
    @pytest.fixture
    def supervisor(self, tmp_path) -> Supervisor:
        return Supervisor(lambda *_: [], FakeBroker(), tmp_path, Timings(liveness=3))

    def test_late_heartbeat_of_a_local_worker_makes_no_slot(self, supervisor):
        supervisor.heard(beat("s0-gone", slot=0))
        assert supervisor.slots == []

    def test_joins_goes_stale_recovers_and_is_dropped_when_gone(self, supervisor):
        supervisor.heard(beat(requests=3, busy=True))
        (slot,) = supervisor.slots
        assert (slot.remote, slot.pid, slot.state, slot.counters().requests) == (
            True,
            4242,
            "busy",
            3,
        )
        assert slot.stats().host == "far"

        slot.process.last_heartbeat -= 4  # more than 3 intervals of 1 s
        supervisor.tick()
        assert slot.state == "stale"
        assert supervisor.broker.orders == [("revivable", "far-1")]

        supervisor.heard(beat())
        assert slot.state == "ready"
        slot.process.last_heartbeat -= 7  # more than twice the liveness limit
        supervisor.tick()
        assert supervisor.slots == []

    def test_leaves_with_its_final_heartbeat(self, supervisor):
        supervisor.heard(beat())
        supervisor.heard(beat(final=True))
        assert supervisor.slots == []
        assert supervisor.broker.orders == [("retire", "far-1")]
        supervisor.heard(beat(final=True))
        assert supervisor.slots == []


class FakeTime:
    """Stands in for the `time` module in `zmqtui.services.supervisor`: a monotonic clock the
    test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()


@pytest.mark.integration  # its workers are `sleep` processes
class TestPausedSupervisor:
    """`kill -STOP` of the supervisor, a few seconds, `kill -CONT`: the workers did nothing
    wrong. Heartbeats every 1 s, 3 missed make a worker stale."""

    @pytest.fixture
    def clock(self, monkeypatch) -> FakeTime:
        fake = FakeTime()
        monkeypatch.setattr(supervisor_module, "time", fake)
        return fake

    @pytest.fixture
    def supervisor(self, tmp_path, clock):
        supervisor = Supervisor(
            lambda *_: ["sleep", "60"], FakeBroker(), tmp_path, Timings(liveness=3)
        )
        yield supervisor
        supervisor.kill_all()

    @staticmethod
    def look(supervisor: Supervisor, clock: FakeTime, seconds: float, beats=()) -> None:
        """The supervisor running for `seconds`, ticking every 50 ms, hearing `beats`."""
        for _ in range(round(seconds / 0.05)):
            clock.now += 0.05
            for heartbeat in beats:
                supervisor.heard(heartbeat)
            supervisor.tick()

    def test_a_pause_longer_than_the_liveness_limit_is_not_silence(self, supervisor, clock):
        local = supervisor.add()
        supervisor.heard(beat("far-1"))
        (remote,) = [slot for slot in supervisor.slots if slot.remote]
        beats = [beat(local.process.worker_id, slot=local.index), beat("far-1")]
        self.look(supervisor, clock, 2, beats)
        assert (local.state, remote.state) == ("ready", "ready")
        clock.now += 10  # stopped; no heartbeat read, nothing ticked
        supervisor.tick()
        assert (local.state, remote.state) == ("ready", "ready")
        assert local.process is not None and local.process.popen.poll() is None
        self.look(supervisor, clock, 1.5)  # looking again, and hearing nothing
        assert (local.state, remote.state) == ("ready", "ready")
        assert supervisor.broker.orders == []
        worker_id = local.process.worker_id
        self.look(supervisor, clock, 2)  # 3 beats missed while looking
        assert {("revivable", "far-1"), ("forget", worker_id)} <= set(supervisor.broker.orders)

    def test_a_pause_does_not_count_against_a_starting_worker(self, supervisor, clock):
        slot = supervisor.add()
        worker_id = slot.process.worker_id
        clock.now += 30  # longer than the 10 s a new worker has for its first heartbeat
        supervisor.tick()
        assert slot.state == "starting"
        self.look(supervisor, clock, 10)
        assert ("forget", worker_id) in supervisor.broker.orders
