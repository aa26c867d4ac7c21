"""What the tests of a cluster share: one run in the test's event loop (`start_cluster` in
`services/conftest.py`) or `zmqtui cluster` as a child process (`ClusterProcess`)."""

from __future__ import annotations

import asyncio
import selectors
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import psutil
import zmq
import zmq.asyncio
from click.testing import CliRunner, Result
from helpers import Processes, free_tcp_port, wait_for, wait_for_sync

from zmqtui.commands.ctl import command as ctl_command
from zmqtui.protocol import ClusterSnapshot, decode_snapshot
from zmqtui.services.cluster import Cluster
from zmqtui.services.control import send_command
from zmqtui.services.supervisor import RestartPolicy, Timings

FAST = Timings(
    heartbeat_ms=200,
    liveness=8,
    start_timeout_ms=15_000,
    grace_ms=3_000,
    restart=RestartPolicy(delay=0.02, max_delay=0.2, stable_after=30, min_uptime=1.0),
)
"""Small timers; the 1.6 s silence limit still tolerates a busy 2-core machine."""
START = 20.0
"""Seconds a cluster of fresh Python processes may take to come up on a busy machine."""

StartCluster = Callable[..., Awaitable[Cluster]]


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting to be reaped does not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def live_states(cluster: Cluster) -> list[str]:
    assert cluster.supervisor is not None
    return [slot.state for slot in cluster.supervisor.slots]


async def all_ready(cluster: Cluster, count: int) -> None:
    await wait_for(
        lambda: (
            len(live_states(cluster)) == count
            and all(s in ("ready", "busy") for s in live_states(cluster))
        ),
        timeout=START,
    )


class Snapshots:
    """The latest stats snapshot a SUB socket received."""

    def __init__(self, actx: zmq.asyncio.Context, endpoint: str) -> None:
        self.sock = actx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.subscribe(b"")
        self.sock.connect(endpoint)
        self.latest: ClusterSnapshot | None = None

    async def wait(self, predicate: Callable[[ClusterSnapshot], bool], timeout: float = 10):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.latest is None or not predicate(self.latest):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"no matching snapshot; last: {self.latest}")
            if await self.sock.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                self.latest = decode_snapshot(await self.sock.recv_multipart())
        return self.latest

    def close(self) -> None:
        self.sock.close(linger=0)


def read_line(proc: subprocess.Popen[str], timeout: float = START) -> str:
    """The next stdout line of `proc`, failing after `timeout` seconds."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise AssertionError(f"no output within {timeout}s")
    return proc.stdout.readline().strip()


class ClusterProcess:
    """A `zmqtui cluster` child on free loopback ports, with small timers."""

    def __init__(
        self, processes: Processes, served_root: Path, *extra: str, ports=None, env=None
    ) -> None:
        self.ports = ports or [free_tcp_port() for _ in range(3)]
        self.frontend, self.stats, self.control = (f"tcp://127.0.0.1:{p}" for p in self.ports)
        self.proc = processes.start(
            "cluster",
            "--root",
            str(served_root),
            "--bind",
            self.frontend,
            "--stats",
            self.stats,
            "--control",
            self.control,
            "--heartbeat-ms",
            "200",
            "--liveness",
            "8",
            "--grace-ms",
            "3000",
            "--restart-delay-ms",
            "20",
            *extra,
            env=env,
        )

    def listing(self) -> dict:
        async def ask() -> dict:
            ctx = zmq.asyncio.Context()
            try:
                return await send_command(ctx, self.control, "list", 2000, tries=3)
            finally:
                ctx.destroy(linger=0)

        return asyncio.run(ask())

    def wait_ready(self, count: int, without: int | None = None) -> dict:
        """The listing once `count` workers are ready (and pid `without` is not among them)."""

        def ready() -> dict | None:
            listing = self.listing()
            states = [w["state"] for w in listing["workers"]]
            pids = [w["pid"] for w in listing["workers"]]
            if len(states) == count and set(states) <= {"ready", "busy"} and without not in pids:
                return listing
            return None

        return wait_for_sync(ready, timeout=START, every=0.1)

    def request(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "zmqtui", "request", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def ctl(self, *args: str) -> Result:
        """`zmqtui ctl` in this process (the cluster is the subprocess that matters here)."""
        return CliRunner().invoke(ctl_command, ["--control", self.control, *args])
