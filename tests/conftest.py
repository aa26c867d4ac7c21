"""Fixtures shared by every test layer: contexts, endpoints, deadlines and child processes."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest
import zmq
import zmq.asyncio


def free_tcp_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_tcp_ports(count: int) -> list[int]:
    """`count` distinct loopback TCP ports nobody listens on right now."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


@pytest.fixture
def tcp_endpoint() -> Callable[[], str]:
    """Makes fresh `tcp://127.0.0.1:PORT` endpoints."""
    return lambda: f"tcp://127.0.0.1:{free_tcp_port()}"


@pytest.fixture
def ipc_endpoint() -> Iterator[Callable[[str], str]]:
    """Makes `ipc://` endpoints in a private temp dir (short: sun_path holds 108 bytes)."""
    directory = tempfile.mkdtemp(prefix="zt-")
    yield lambda name="sock": f"ipc://{directory}/{name}"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def actx() -> zmq.asyncio.Context:
    """An asyncio Context of the test's own, destroyed (linger 0) when it ends."""
    ctx = zmq.asyncio.Context()
    yield ctx
    ctx.destroy(linger=0)


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    """A blocking Context of the test's own, destroyed (linger 0) when it ends."""
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


async def wait_for(predicate: Callable[[], object], timeout: float = 5.0, every: float = 0.02):
    """Poll `predicate` until it is truthy (and return it) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


def wait_for_sync(predicate: Callable[[], object], timeout: float = 5.0, every: float = 0.02):
    """Blocking `wait_for` for tests without an event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


class Processes:
    """Starts `zmqtui` subcommands as child processes and always reaps them."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[str]] = []

    def start(self, *args: str, **kwargs) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zmqtui", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            **kwargs,
        )
        self.children.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.children:
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Child `zmqtui` processes, terminated (then killed) when the test ends."""
    procs = Processes()
    yield procs
    procs.stop_all()
