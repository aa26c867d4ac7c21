"""Fixtures of the service tests: a cluster run in the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import psutil
import pytest
import zmq.asyncio
from clusters import FAST, StartCluster, process_alive
from helpers import wait_for

from zmqtui.services.cluster import Cluster, ClusterConfig


@pytest.fixture
async def start_cluster(
    served_root: Path, ipc_endpoint: Callable[[str], str], actx: zmq.asyncio.Context
) -> AsyncIterator[StartCluster]:
    """Starts clusters on private ipc endpoints; stops them and checks no worker survives."""
    running: list[tuple[Cluster, asyncio.Task[None]]] = []
    names = iter(range(1000))

    async def start(**overrides) -> Cluster:
        n = next(names)
        settings = dict(
            root=served_root,
            workers=2,
            frontend=ipc_endpoint(f"front{n}"),
            stats=ipc_endpoint(f"stats{n}"),
            control=ipc_endpoint(f"ctl{n}"),
            timings=FAST,
            stats_interval_ms=200,
        )
        settings.update(overrides)
        cluster = Cluster(ClusterConfig(**settings), actx)
        task = asyncio.create_task(cluster.run())
        running.append((cluster, task))
        await wait_for(lambda: cluster.bound.is_set() or task.done(), timeout=10)
        if task.done():
            task.result()
        return cluster

    yield start
    pids: list[int] = []
    for cluster, task in running:
        if cluster.supervisor is not None:
            pids.extend(cluster.supervisor.pids())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    assert not [pid for pid in pids if psutil.pid_exists(pid) and process_alive(pid)]
    for cluster, _ in running:
        assert cluster.runtime_dir is None or not cluster.runtime_dir.exists()
        left = [e for e in cluster.endpoints.values() if Path(e.removeprefix("ipc://")).exists()]
        assert not left, f"stale ipc files: {left}"
