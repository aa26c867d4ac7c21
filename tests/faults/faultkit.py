"""What the fault, hostile-input and sandbox suites share: real zmqtui processes, always reaped.

`Children` starts `python -m zmqtui ...` in sessions of their own, reads their output as it
comes (a child that prints a lot never blocks on a full pipe), remembers every descendant it
has seen (a cluster's workers too) and stops them all by PID; `orphans()` names any that
outlived the processes we started. `ClusterUnderTest` is a `zmqtui cluster` child on free
loopback ports with small timers, steered through its control endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import psutil
import zmq
from helpers import free_tcp_port, wait_for_sync

from zmqtui.protocol import FileReply, decode_reply
from zmqtui.services import sockets

START = 25.0
"""Seconds a fresh Python process (and its workers) may take to come up on a busy machine."""
REPLY = 5.0
"""Seconds any single answer may take before a test calls it lost."""


@functools.cache
def unprivileged_prefix() -> list[str] | None:
    """What runs a command without the power to read any file whatever its mode: nothing when
    not root; as root, `setpriv` dropping every capability (root then reads only what its
    modes allow); None when that cannot be had here."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--"]
    dropped = subprocess.run([*prefix, "true"], capture_output=True, timeout=START)
    return prefix if dropped.returncode == 0 else None


class Child:
    """One `zmqtui` child process and the lines it has printed so far."""

    def __init__(self, args: tuple[str, ...], popen: subprocess.Popen[str]) -> None:
        self.args = args
        self.popen = popen
        self.pid = popen.pid
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=_collect, args=(stream, lines), daemon=True)
            for stream, lines in ((popen.stdout, self.stdout), (popen.stderr, self.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def __repr__(self) -> str:
        return f"<zmqtui {' '.join(self.args[:1])} pid {self.pid}>"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def rss(self) -> int:
        """Resident memory in bytes."""
        return psutil.Process(self.pid).memory_info().rss

    def fds(self) -> int:
        """Open file descriptors."""
        return psutil.Process(self.pid).num_fds()

    def wait_for_line(self, text: str, *, stream: str = "stdout", timeout: float = START) -> str:
        """The first line of `stream` containing `text`, waiting as long as `timeout` for it."""
        lines = self.stdout if stream == "stdout" else self.stderr

        def found() -> str | None:
            hit = next((line for line in list(lines) if text in line), None)
            if hit is None and not self.alive():
                raise AssertionError(f"{self!r} exited with {self.popen.returncode}: {self.stderr}")
            return hit

        try:
            return wait_for_sync(found, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: no {stream} line with {text!r} from {self!r}") from None

    def lines_with(self, text: str, stream: str = "stdout") -> list[str]:
        lines = self.stdout if stream == "stdout" else self.stderr
        return [line for line in list(lines) if text in line]


def _collect(stream: IO[str] | None, lines: list[str]) -> None:
    if stream is None:
        return
    with contextlib.suppress(ValueError, OSError):  # closed under us at teardown
        for line in stream:
            lines.append(line.rstrip("\n"))


class Children:
    """Starts `zmqtui` children and makes sure that they, and whatever they started, end."""

    def __init__(self) -> None:
        self.started: list[Child] = []
        self._seen: dict[tuple[int, float], psutil.Process] = {}

    def start(self, *args: str, unprivileged: bool = False) -> Child:
        """Run `python -m zmqtui ARGS`, without root's power over file modes if asked."""
        prefix = unprivileged_prefix() if unprivileged else []
        if prefix is None:
            raise RuntimeError("cannot drop root's capabilities here (no setpriv)")
        popen = subprocess.Popen(
            [*prefix, sys.executable, "-m", "zmqtui", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="backslashreplace",
            start_new_session=True,
        )
        child = Child(args, popen)
        self.started.append(child)
        with contextlib.suppress(psutil.Error):
            self._remember(psutil.Process(popen.pid))
        return child

    def remember(self) -> None:
        """Note every descendant alive now, so `orphans` can tell if one outlives its parent."""
        for child in self.started:
            with contextlib.suppress(psutil.Error):
                for proc in psutil.Process(child.pid).children(recursive=True):
                    self._remember(proc)

    def _remember(self, proc: psutil.Process) -> None:
        with contextlib.suppress(psutil.Error):
            self._seen[(proc.pid, proc.create_time())] = proc

    def orphans(self) -> list[str]:
        """Every process we started or saw started that is still running (zombies are gone)."""
        left = []
        for proc in self._seen.values():
            with contextlib.suppress(psutil.Error):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"pid {proc.pid}: {' '.join(proc.cmdline()[2:5])}")
        return left

    def stop_all(self, timeout: float = 10.0) -> list[str]:
        """SIGTERM every child, SIGKILL what is left by PID; return the orphans found first."""
        self.remember()
        for child in self.started:
            if child.alive():
                child.popen.send_signal(signal.SIGTERM)
        for child in self.started:
            try:
                child.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.popen.kill()
                child.popen.wait(timeout=5)
        with contextlib.suppress(AssertionError):
            wait_for_sync(lambda: not self.orphans(), timeout=timeout)
        orphans = self.orphans()
        for proc in self._seen.values():  # ours, by PID: never leave one running
            with contextlib.suppress(psutil.Error):
                if proc.is_running():
                    proc.kill()
        for child in self.started:
            for stream in (child.popen.stdout, child.popen.stderr):
                if stream:
                    with contextlib.suppress(OSError):
                        stream.close()
        return orphans


@contextlib.contextmanager
def running_children() -> Iterator[Children]:
    """`Children` that are stopped when the block ends, failing it if one left an orphan."""
    children = Children()
    try:
        yield children
    finally:
        orphans = children.stop_all()
    assert not orphans, f"processes outlived their parents: {orphans}"


# --- talking to the services ---------------------------------------------------------------


def request_raw(endpoint: str, payload: bytes, timeout: float = REPLY) -> bytes | None:
    """One request on a fresh REQ socket: the reply, or None after `timeout` seconds."""
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.REQ)
        sockets.configure(sock, max_message_bytes=None)
        sockets.connect(sock, endpoint)
        sock.send(payload)
        return sock.recv() if sock.poll(int(timeout * 1000)) else None
    finally:
        ctx.destroy(linger=0)


def fetch(endpoint: str, path: str, timeout: float = REPLY) -> str:
    """The content of `path`, failing the test on anything else."""
    raw = request_raw(endpoint, json.dumps({"path": path}).encode(), timeout)
    assert raw is not None, f"no reply from {endpoint} within {timeout}s"
    reply = decode_reply([raw])
    assert isinstance(reply, FileReply), reply
    return reply.content


def control(endpoint: str, cmd: str, timeout: float = 3.0, tries: int = 3, **args: Any) -> dict:
    """A control command's reply, retried on fresh sockets (a busy cluster may be slow)."""
    payload = json.dumps({"cmd": cmd, **args, "id": os.urandom(6).hex()}).encode()
    for _ in range(tries):
        raw = request_raw(endpoint, payload, timeout)
        if raw is not None:
            return json.loads(raw)
    raise AssertionError(f"no reply to {cmd!r} from {endpoint} after {tries} tries")


class ClusterUnderTest:
    """A `zmqtui cluster` child on free loopback ports, with timers small enough for tests."""

    TIMERS = (
        "--heartbeat-ms",
        "200",
        "--liveness",
        "5",
        "--start-timeout-ms",
        "20000",
        "--grace-ms",
        "2000",
        "--restart-delay-ms",
        "20",
        "--min-uptime-ms",
        "100",
        "--stats-interval-ms",
        "250",
    )

    def __init__(
        self,
        children: Children,
        root: Path,
        *extra: str,
        workers: int = 2,
        ports: list[int] | None = None,
        unprivileged: bool = False,
    ) -> None:
        self.root = root
        self.workers = workers
        self.ports = ports or [free_tcp_port() for _ in range(3)]
        self.frontend, self.stats, self.control = (f"tcp://127.0.0.1:{p}" for p in self.ports)
        self.args = (
            "cluster",
            "--root",
            str(root),
            "--workers",
            str(workers),
            "--bind",
            self.frontend,
            "--stats",
            self.stats,
            "--control",
            self.control,
            *self.TIMERS,
            *extra,
        )
        self.child = children.start(*self.args, unprivileged=unprivileged)
        self.children = children

    @property
    def pid(self) -> int:
        return self.child.pid

    def wait_bound(self) -> None:
        self.child.wait_for_line(f"Cluster listening for zmq requesters on {self.frontend}")

    def listing(self) -> dict:
        reply = control(self.control, "list")
        assert reply["ok"], reply
        return reply

    def ready(self, count: int | None = None, without: Callable[[int], bool] = lambda _: False):
        """The workers once `count` are ready or busy (none of them `without`), as dicts."""
        count = self.workers if count is None else count

        def all_ready() -> list[dict] | None:
            workers = self.listing()["workers"]
            live = [w for w in workers if w["state"] in ("ready", "busy") and not without(w["pid"])]
            return workers if len(live) == len(workers) == count else None

        workers = wait_for_sync(all_ready, timeout=START, every=0.1)
        self.children.remember()
        return workers

    def runtime_dir(self) -> Path:
        backend = self.listing()["endpoints"]["backend"]
        return Path(backend.removeprefix("ipc://")).parent


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting to be reaped counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_in_thread(predicate: Callable[[], object], timeout: float = START) -> object:
    """`wait_for` for a predicate that blocks (it asks a process): run off the event loop."""
    end = time.monotonic() + timeout
    while not (value := await asyncio.to_thread(predicate)):
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.1)
    return value
