"""The filer cluster: a broker in front of worker processes, supervised, steerable, observable.

`Cluster.run` binds everything first (so a second cluster on the same endpoints fails before
it touches anything), starts the broker's forwarding thread and the workers, then supervises
until `stop()`, a `stop` command, cancellation or the end of its owner process (`owner_pid`).
Its sockets:

- frontend ROUTER (`frontend`): clients, the book's requester included;
- backend (`backend`): the workers, `ipc://` in a private 0700 runtime directory by default;
- heartbeat PULL: every worker's heartbeat and counters;
- stats PUB (`stats`): a `ClusterSnapshot` about once a second and on every change of state;
- control REP (`control`): the commands of `zmqtui.services.control`.

On the way out it stops accepting (the broker closes), stops the workers (SIGTERM, SIGKILL after
the grace period), reaps them all and removes the runtime directory; the runtime directories
of clusters that were killed outright are removed when the next one starts
(`zmqtui.services.runtime_dir`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio

from zmqtui.config import DEFAULT_CONTROL, DEFAULT_REQ, DEFAULT_STATS, MAX_FILE_BYTES, ConfigError
from zmqtui.protocol import ClusterSnapshot, now_ms
from zmqtui.services import sockets
from zmqtui.services.broker import DEFAULT_ROUTING, ROUTING_MODES, Broker, make_broker
from zmqtui.services.control import MAX_WORKERS, ControlRequest, ControlServer
from zmqtui.services.metrics import ClusterMetrics, MetricsAddress, MetricsServer
from zmqtui.services.owner import Owner
from zmqtui.services.runtime_dir import clear_stale_runtime_dirs, make_runtime_dir
from zmqtui.services.sockets import EndpointError
from zmqtui.services.supervisor import Slot, Supervisor, Timings
from zmqtui.services.worker import decode_heartbeat, heartbeat_endpoint_for
from zmqtui.text import printable

logger = logging.getLogger(__name__)

STATS_INTERVAL_MS = 1000
_TICK_SECONDS = 0.05
_MAX_BEATS_AT_ONCE = 10_000
_STATS_LINGER_MS = 200
"""Time the last snapshot (every worker dead) gets to leave when the cluster stops."""


def default_worker_count() -> int:
    """One worker per CPU, as the book does."""
    return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Everything `zmqtui cluster` can be told."""

    root: Path
    workers: int = field(default_factory=default_worker_count)
    frontend: str = DEFAULT_REQ
    stats: str = DEFAULT_STATS
    control: str = DEFAULT_CONTROL
    backend: str | None = None
    """None: `ipc://` in a private runtime directory."""
    heartbeat: str | None = None
    """None: derived from the backend (`heartbeat_endpoint_for`)."""
    routing: str = DEFAULT_ROUTING
    max_bytes: int = MAX_FILE_BYTES
    public: bool = False
    """Allow binds beyond loopback."""
    timings: Timings = field(default_factory=Timings)
    stats_interval_ms: int = STATS_INTERVAL_MS
    worker_command: tuple[str, ...] | None = None
    """The argv that runs a worker, before its options; None: `python -m zmqtui worker`."""
    metrics: MetricsAddress | None = None
    """Where to serve Prometheus' `/metrics`; None: nowhere."""
    config_file: Path | None = None
    """The settings file the cluster was given (`--config`): its workers read it too, for the
    CURVE keys. Without one they read `$ZMQTUI_CONFIG` or the user's file, as the cluster did."""
    owner_pid: int | None = None
    """A process to live for (the monitor that started the cluster): when it is gone, the
    cluster stops as on SIGTERM, its workers with it."""


def local_endpoint(endpoint: str) -> str:
    """How a process on this machine reaches a bound endpoint (`0.0.0.0` -> `127.0.0.1`)."""
    for wildcard, loopback in (
        ("tcp://0.0.0.0:", "tcp://127.0.0.1:"),
        ("tcp://[::]:", "tcp://[::1]:"),
    ):
        if endpoint.startswith(wildcard):
            return loopback + endpoint.removeprefix(wildcard)
    return endpoint


class Cluster:
    """A running filer cluster; `run()` it on an event loop."""

    def __init__(self, config: ClusterConfig, ctx: zmq.asyncio.Context | None = None) -> None:
        if config.routing not in ROUTING_MODES:
            raise ConfigError(f"routing must be one of {', '.join(ROUTING_MODES)}")
        if config.workers < 0:
            raise ConfigError("the number of workers cannot be negative")
        self.config = config
        self._ctx = ctx
        self.endpoints: dict[str, str] = {}
        """Bound endpoints by role: frontend, backend, heartbeat, stats, control."""
        self.bound = asyncio.Event()
        self.broker: Broker | None = None
        self.supervisor: Supervisor | None = None
        self.runtime_dir: Path | None = None
        self._stopping = asyncio.Event()
        self._pub: zmq.asyncio.Socket | None = None
        self._seq = 0
        self.metrics: MetricsServer | None = None
        self._metrics = ClusterMetrics()

    def stop(self) -> None:
        """Ask `run` to shut the cluster down."""
        self._stopping.set()

    async def run(self, on_bound: Callable[[Cluster], None] | None = None) -> None:
        """Serve until stopped or cancelled; everything started is stopped and reaped."""
        root = self.config.root
        if not root.is_dir():
            raise ConfigError(f"root {root} is not a directory")
        ctx = self._ctx or zmq.asyncio.Context()
        clear_stale_runtime_dirs()
        self.runtime_dir = make_runtime_dir()
        owned: list[zmq.asyncio.Socket] = []
        control: ControlServer | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            control = self._bind(ctx, owned)
            if self.config.metrics is not None:
                self.metrics = MetricsServer(self.config.metrics, self._metrics)
                self.endpoints["metrics"] = self.metrics.url
            assert self.broker is not None
            self.broker.start()
            self.supervisor = Supervisor(
                self._launch_command, self.broker, self.runtime_dir, self.config.timings
            )
            self.supervisor.scale(self.config.workers)
            self.bound.set()
            if on_bound:
                on_bound(self)
            stopping = asyncio.create_task(self._stopping.wait(), name="stopping")
            tasks = [
                stopping,
                asyncio.create_task(self._supervise(owned[0]), name="supervise"),
                asyncio.create_task(control.run(), name="control"),
            ]
            if self.config.owner_pid is not None:
                owner = Owner(self.config.owner_pid)
                tasks.append(asyncio.create_task(owner.gone(), name="owner"))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # a loop that ended on an error raises it here
        finally:
            try:
                await self._shut_down(tasks, control, owned)
            finally:
                if self._ctx is None:
                    ctx.destroy(linger=0)

    def _bind(self, ctx: zmq.asyncio.Context, owned: list[zmq.asyncio.Socket]) -> ControlServer:
        """Bind every endpoint, the frontend first; any failure leaves nothing bound."""
        config = self.config
        assert self.runtime_dir is not None
        self.broker = make_broker(
            config.routing,
            config.frontend,
            config.backend or f"ipc://{self.runtime_dir}/backend",
            public=config.public,
            max_bytes=config.max_bytes,
        )
        backend = self.broker.backend_endpoint
        beats = ctx.socket(zmq.PULL)
        owned.append(beats)
        sockets.configure(beats)
        try:
            heartbeat = sockets.bind(
                beats, config.heartbeat or heartbeat_endpoint_for(backend), public=config.public
            )
        except EndpointError as exc:
            if config.heartbeat:
                raise
            raise EndpointError(
                f"{exc} (the heartbeat endpoint, derived from the backend's; choose one with "
                "--heartbeat)"
            ) from None
        self._pub = ctx.socket(zmq.PUB)
        owned.append(self._pub)
        sockets.configure(self._pub)
        stats = sockets.bind(self._pub, config.stats, public=config.public)
        control = ControlServer(ctx, config.control, self._command, public=config.public)
        self.endpoints = {
            "frontend": self.broker.frontend_endpoint,
            "backend": backend,
            "heartbeat": heartbeat,
            "stats": stats,
            "control": control.endpoint,
        }
        return control

    async def _shut_down(
        self,
        tasks: list[asyncio.Task[None]],
        control: ControlServer | None,
        owned: list[zmq.asyncio.Socket],
    ) -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            if self.broker is not None:
                self.broker.close()
            if self.supervisor is not None:
                try:
                    await self.supervisor.shutdown()
                finally:
                    self.supervisor.kill_all()
                for slot in self.supervisor.local_slots:
                    slot.state = "dead"
                self._publish()
        finally:
            if control is not None:
                control.close()
            if self.metrics is not None:
                self.metrics.close()
            for sock in owned:
                sockets.remove_ipc_file(sock.getsockopt_string(zmq.LAST_ENDPOINT))
                sock.close(linger=_STATS_LINGER_MS if sock is self._pub else 0)
            if self.runtime_dir is not None:
                shutil.rmtree(self.runtime_dir, ignore_errors=True)

    def _launch_command(self, slot: int, worker_id: str, counters: Path) -> list[str]:
        config = self.config
        prefix = config.worker_command or (sys.executable, "-m", "zmqtui", "worker")
        return [
            *prefix,
            "--connect",
            local_endpoint(self.endpoints["backend"]),
            "--heartbeat",
            local_endpoint(self.endpoints["heartbeat"]),
            "--root",
            str(config.root),
            "--max-bytes",
            str(config.max_bytes),
            "--heartbeat-ms",
            str(config.timings.heartbeat_ms),
            "--id",
            worker_id,
            "--slot",
            str(slot),
            "--counters",
            str(counters),
            "--supervised",
            *(("--config", str(config.config_file.resolve())) if config.config_file else ()),
        ]

    # --- the loops ------------------------------------------------------------------------------

    async def _supervise(self, beats: zmq.asyncio.Socket) -> None:
        """Take heartbeats as they come and tick the supervisor; every tick comes right after
        reading the heartbeats queued, so a supervisor that was paused (SIGSTOP) reads its
        workers' beats from the pause before it judges whether they are alive."""
        supervisor = self.supervisor
        assert supervisor is not None
        tick = min(_TICK_SECONDS, self.config.timings.heartbeat_ms / 4000)
        interval = self.config.stats_interval_ms / 1000
        next_tick = next_sample = time.monotonic()
        while True:
            await self._take_heartbeats(beats)
            if time.monotonic() >= next_tick:
                supervisor.tick()
                next_tick = time.monotonic() + tick
                due = time.monotonic() >= next_sample
                if due:
                    supervisor.sample()
                    next_sample = time.monotonic() + interval
                if due or supervisor.changed:
                    supervisor.changed = False
                    self._publish()
            await beats.poll(max(0.0, next_tick - time.monotonic()) * 1000, zmq.POLLIN)

    async def _take_heartbeats(self, beats: zmq.asyncio.Socket) -> None:
        """Hand the heartbeats already queued to the supervisor, without waiting for more (at
        most `_MAX_BEATS_AT_ONCE`: a flood of them must not keep the supervisor from ticking)."""
        assert self.supervisor is not None
        for _ in range(_MAX_BEATS_AT_ONCE):
            try:
                frames = await beats.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) == 1 and (beat := decode_heartbeat(frames[0])) is not None:
                self.supervisor.heard(beat)

    # --- stats and commands ---------------------------------------------------------------------

    def snapshot(self) -> ClusterSnapshot:
        """What the cluster looks like now."""
        assert self.broker is not None and self.supervisor is not None
        return ClusterSnapshot(
            pid=os.getpid(),
            timestamp=now_ms(),
            endpoints=dict(self.endpoints),
            routing=self.config.routing,
            broker=self.broker.counters(),
            workers=self.supervisor.stats(),
            seq=self._seq,
        )

    def _publish(self) -> None:
        if self._pub is None or self.supervisor is None:
            return
        self._seq += 1
        snapshot = self.snapshot()
        with contextlib.suppress(zmq.ZMQError):
            self._pub.send(snapshot.encode(), flags=zmq.NOBLOCK)
        if self.metrics is not None:
            counters = {slot.index: slot.counters() for slot in self.supervisor.slots}
            self._metrics.update(snapshot, counters)

    async def _command(self, request: ControlRequest) -> dict[str, Any]:
        supervisor = self.supervisor
        assert supervisor is not None
        cmd = request.cmd
        if cmd == "list":
            return {"ok": True, **self.snapshot().to_wire()}
        if cmd == "stop":
            self.stop()
            return {"ok": True, "message": "stopping the cluster"}
        if cmd == "scale":
            assert request.n is not None
            errored = supervisor.scale(request.n)
            message = f"scaled to {request.n} local workers"
            if errored:
                again = ", ".join(f"{slot.index} (now pid {slot.pid})" for slot in errored)
                message += f"; errored slots started again: {again}"
            return {"ok": True, "message": message}
        if cmd == "add":
            count = 1 if request.n is None else request.n
            running = len(supervisor.local_slots)
            if running + count > MAX_WORKERS:
                return {
                    "ok": False,
                    "error": f"already {running} local workers; {MAX_WORKERS} is the most",
                }
            added = [supervisor.add() for _ in range(count)]
            slots = ", ".join(f"slot {slot.index} (pid {slot.pid})" for slot in added)
            return {"ok": True, "message": f"added {slots}"}
        if cmd == "remove":
            removed = supervisor.remove(request.pid)
            if removed is None:
                what = f"local worker with pid {request.pid}" if request.pid else "local worker"
                return {"ok": False, "error": f"no {what} to remove"}
            return {"ok": True, "message": f"removed slot {removed.index} (pid {removed.pid})"}
        assert request.pid is not None
        if cmd == "drain":
            return self._drain(request.pid)
        slot = supervisor.find_pid(request.pid)
        if slot is None or slot.remote:
            return {"ok": False, "error": self._not_ours(request.pid, slot)}
        old = slot.pid
        exited = slot.process is None  # listed as dead or errored
        if cmd == "restart":
            supervisor.restart(slot)
            if slot.process is None:
                return {"ok": False, "error": f"cannot start a worker for slot {slot.index}"}
            if exited:
                message = f"pid {old} had exited ({slot.last_exit}); slot {slot.index} started"
                return {"ok": True, "message": f"{message} again as pid {slot.pid}"}
            return {"ok": True, "message": f"restarting pid {old} as pid {slot.pid}"}
        if exited:
            return {
                "ok": False,
                "error": f"pid {old} has already exited (slot {slot.index} is {slot.state}); "
                "restart starts it again",
            }
        supervisor.kill(slot)
        return {"ok": True, "message": f"killed pid {old}; slot {slot.index} will restart"}

    def _drain(self, pid: int) -> dict[str, Any]:
        """Stop a worker on purpose once it has answered what it holds: a local one as `remove`
        does, a remote one by telling it over the backend (its own supervisor decides what
        comes next)."""
        assert self.supervisor is not None and self.broker is not None
        slots = [s for s in self.supervisor.slots if s.process is not None and s.pid == pid]
        if not slots:
            return {"ok": False, "error": f"no worker with pid {pid}"}
        if len(slots) > 1:
            hosts = ", ".join(printable(str(s.stats().host)) for s in slots)
            return {"ok": False, "error": f"several workers have pid {pid} (on {hosts})"}
        slot = slots[0]
        if not slot.remote:
            self.supervisor.remove(pid)
            return {"ok": True, "message": f"draining pid {pid}; slot {slot.index} removed"}
        if not self.broker.can_drain:
            return {"ok": False, "error": f"{self.config.routing} routing cannot drain a worker"}
        assert slot.process is not None
        self.broker.drain(slot.process.worker_id)
        host = printable(str(slot.stats().host))
        return {"ok": True, "message": f"draining remote worker pid {pid} on {host}"}

    @staticmethod
    def _not_ours(pid: int, slot: Slot | None) -> str:
        if slot is None:
            return f"no worker with pid {pid}"
        return f"pid {pid} is a remote worker; drain it, or stop it where it runs"
