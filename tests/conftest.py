"""Fixtures shared by every test layer: contexts, endpoints, a served root and child processes.

Plain helpers (`wait_for`, free ports, the pane host) live in `helpers.py`, imported by name.
"""

from __future__ import annotations

import fcntl
import multiprocessing.process
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from helpers import Processes, free_tcp_port, make_served_root


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
def short_tmp_path() -> Iterator[Path]:
    """A private temp dir with a short path, for `ipc://` sockets made inside it (sun_path
    holds 108 bytes; `tmp_path` is longer under pytest-xdist)."""
    directory = Path(tempfile.mkdtemp(prefix="zt-"))
    yield directory
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


@pytest.fixture
def served_root(tmp_path: Path) -> Path:
    """A directory to serve, holding `target.txt` with `helpers.TARGET_TEXT` in it."""
    return make_served_root(tmp_path / "served")


@pytest.fixture
def default_ports() -> Iterator[None]:
    """Held while a test runs bare `zmqtui`, which binds the default ports 60400-60403: one
    such test at a time on this machine, whatever pytest worker or run it is in. A bare monitor
    takes a free port when a default one is taken, but two starting at once both find it free
    and one of them fails to bind it."""
    with (Path(tempfile.gettempdir()) / "zmqtui-tests-default-ports.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Child `zmqtui` processes, terminated (then killed) when the test ends."""
    procs = Processes()
    yield procs
    procs.stop_all()


@pytest.fixture(autouse=True)
def _processes_only_in_integration_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test (or its fixtures) that starts a process must be marked `integration`: the mark
    is how a quick run (`-m "not integration"`) leaves the slow, process-bound tests out."""
    if request.node.get_closest_marker("integration"):
        return

    def refusal(what: str) -> Callable[..., None]:
        def refuse(*args: object, **kwargs: object) -> None:
            pytest.fail(f"{what} in a test not marked integration", pytrace=False)

        return refuse

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refusal("subprocess.Popen"))
    monkeypatch.setattr(
        multiprocessing.process.BaseProcess, "start", refusal("a multiprocessing start")
    )
    monkeypatch.setattr(os, "fork", refusal("os.fork"))
    monkeypatch.setattr(os, "forkpty", refusal("os.forkpty"))


@pytest.fixture(autouse=True)
def _state_in_a_temp_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """The request history (`$XDG_STATE_HOME/zmqtui/`) of a test is its own, never the user's."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times on screen and in text in UTC, whatever the machine's zone (pictures, parsing)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
