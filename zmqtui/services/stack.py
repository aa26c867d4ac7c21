"""The embedded stack that bare `zmqtui` starts, and stops, for the monitor: `EmbeddedStack`
owns the watcher's publisher, run in the monitor's process, and the filer cluster.

The cluster runs as a child process (`python -m zmqtui cluster ...`) so its workers are real OS
processes, like in production, and a crash of one never touches the monitor. Its output goes to
a log file in a private temp directory, which also holds the cluster's `ipc://` backend; the
directory is removed on stop, so nothing is left behind. Stopping sends SIGTERM, waits, then
SIGKILLs the cluster and any of its descendants still alive, each by PID. A monitor that dies
without stopping it (`kill -9`, the OOM killer) is noticed by the cluster itself
(`--owner-pid`), which then stops its workers and exits; the directory, named after the
monitor's pid like a cluster's runtime directory, is removed by the next cluster started.
With a tap (`zmqtui --with-tap`), a `zmqtui tap` child process sits where clients connect and
forwards to the cluster, publishing each request with its reply for the Conversations view.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil
import zmq.asyncio

from zmqtui.services.runtime_dir import make_runtime_dir
from zmqtui.services.watcher import ChangePublisher

STOP_GRACE_S = 2.0
"""How long the cluster gets to stop its workers after SIGTERM before everything is killed."""


def port_is_free(endpoint: str) -> bool:
    """Whether a TCP endpoint's port can be bound right now (non-TCP endpoints: True)."""
    transport, _, address = endpoint.partition("://")
    if transport != "tcp":
        return True
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or int(port) == 0:
        return True
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as libzmq binds
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True


def free_endpoint(host: str = "127.0.0.1") -> str:
    """A TCP endpoint on `host` whose port nobody listens on right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port = probe.getsockname()[1]
    return f"tcp://[{host}]:{port}" if family == socket.AF_INET6 else f"tcp://{host}:{port}"


def pick_endpoint(preferred: str, taken: set[str] | None = None) -> str:
    """`preferred` if its port is free (and not in `taken`), else a free port on loopback."""
    taken = taken or set()
    if preferred not in taken and port_is_free(preferred):
        return preferred
    while True:
        endpoint = free_endpoint()
        if endpoint not in taken:
            return endpoint


@dataclass(frozen=True, slots=True)
class ClusterEndpoints:
    """Where the embedded cluster binds."""

    req: str
    stats: str
    control: str


class EmbeddedCluster:
    """A filer cluster child process serving `root`, started by `start` and ended by `stop`.

    Args:
        root: the directory the cluster serves.
        endpoints: where it binds its frontend, stats and control sockets.
        workers: number of worker processes; None for the cluster's default.
        config_file: the monitor's `--config FILE`, passed on so that settings such as CURVE
            keys apply to the cluster too (`$ZMQTUI_CONFIG` reaches it through the environment).
    """

    def __init__(
        self,
        root: Path,
        endpoints: ClusterEndpoints,
        *,
        workers: int | None = None,
        config_file: Path | None = None,
    ):
        self.root = root
        self.endpoints = endpoints
        self.workers = workers
        self.config_file = config_file
        self._dir: Path | None = None
        self._log = None
        self.process: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._lock = threading.RLock()
        """Start, restart (from a thread) and stop (on quit) never overlap; reentrant, for a
        stop from a signal handler that interrupted a start on the same thread."""

    @property
    def backend(self) -> str:
        """The cluster's worker-facing `ipc://` endpoint, inside the private temp directory."""
        assert self._dir is not None, "not started"
        return f"ipc://{self._dir}/backend"

    @property
    def log_path(self) -> Path | None:
        """Where the cluster's output goes while it runs."""
        return None if self._dir is None else self._dir / "cluster.log"

    def command(self) -> list[str]:
        """The command line that starts the cluster."""
        args = [
            sys.executable,
            "-m",
            "zmqtui",
            "cluster",
            "--root",
            str(self.root),
            "--bind",
            self.endpoints.req,
            "--stats",
            self.endpoints.stats,
            "--control",
            self.endpoints.control,
            "--backend",
            self.backend,
            "--owner-pid",  # however the monitor ends, the cluster does not outlive it
            str(os.getpid()),
        ]
        if self.workers is not None:
            args += ["--workers", str(self.workers)]
        if self.config_file is not None:
            args += ["--config", str(self.config_file.absolute())]
        return args

    def start(self) -> None:
        """Start the cluster; returns at once (the monitor shows it coming up)."""
        with self._lock:
            self._start()

    def restart(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop the cluster if it still runs (as `stop` does), then start a new one on the same
        endpoints; blocks for up to `grace_s`, so the monitor calls it from a thread."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("the cluster was stopped")
            self._end(grace_s)
            self._start()

    def _start(self) -> None:
        if self.process is not None:
            raise RuntimeError("the cluster is already started")
        if self._stopped:  # e.g. the monitor quit before it got to start the cluster
            raise RuntimeError("the cluster was stopped")
        self._dir = make_runtime_dir()  # named after the monitor: cleared if it is killed
        self._log = open(self._dir / "cluster.log", "wb")  # noqa: SIM115 - closed in _cleanup()
        try:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's Ctrl-C and hangup are ours to pass on
            )
        except BaseException:
            self._cleanup()
            raise

    def poll(self) -> int | None:
        """The cluster's exit code, or None while it runs (or before it started)."""
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 5) -> str:
        """The last lines the cluster printed, to explain an early exit."""
        path = self.log_path
        if path is None or not path.exists():
            return ""
        with contextlib.suppress(OSError):
            text = path.read_bytes()[-4096:].decode("utf-8", "replace")
            return "\n".join(text.strip().splitlines()[-lines:])
        return ""

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM, wait up to `grace_s`, then SIGKILL the cluster and its descendants; a
        cluster stopped before it started never starts."""
        with self._lock:
            self._stopped = True
            self._end(grace_s)

    def _end(self, grace_s: float) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process_tree(process, grace_s)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> EmbeddedCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def stop_process_tree(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM `process`, wait up to `grace_s`, then SIGKILL it and every descendant still
    alive, those it started during the stop included (each by PID, checked by psutil)."""
    family = _descendants(process.pid)
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()
    family += [p for p in _descendants_after(family) if p not in family]
    _kill_all(family)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _descendants_after(family: list[psutil.Process]) -> list[psutil.Process]:
    """Children that the known descendants started meanwhile (a restart during the stop)."""
    found: list[psutil.Process] = []
    for member in family:
        with contextlib.suppress(psutil.Error):
            if member.is_running():
                found += member.children(recursive=True)
    return found


def _kill_all(family: list[psutil.Process]) -> None:
    """SIGKILL every process still alive (psutil checks each is still the same process)."""
    alive = []
    for member in family:
        with contextlib.suppress(psutil.Error):
            if member.is_running():
                member.kill()
                alive.append(member)
    psutil.wait_procs(alive, timeout=2)


class EmbeddedTap:
    """A tap child process (`zmqtui tap --quiet`) in front of the embedded cluster: clients
    connect to `listen` as they would to the cluster, it forwards to the cluster on `forward`
    and publishes each request with its reply on `pairs` for the Conversations view. Like the
    cluster it names the monitor as its owner, so it never outlives it.
    """

    def __init__(self, listen: str, forward: str, pairs: str) -> None:
        self.listen = listen
        self.forward = forward
        self.pairs = pairs
        self.process: subprocess.Popen[bytes] | None = None
        self._errors: IO[bytes] | None = None
        """What the tap says on stderr (why it stopped), in an unnamed temporary file."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "zmqtui",
            "tap",
            "--listen",
            self.listen,
            "--forward",
            self.forward,
            "--pairs",
            self.pairs,
            "--quiet",
            "--owner-pid",
            str(os.getpid()),
        ]

    def start(self) -> None:
        if self.process is None:
            self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._errors,
                start_new_session=True,
            )

    def poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 3) -> str:
        """The last lines the tap wrote to stderr: why it stopped, when it did."""
        if self._errors is None:
            return ""
        self._errors.seek(0)
        text = self._errors.read()[-4096:].decode("utf-8", "replace")
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_process_tree(process, grace_s)
        if self._errors is not None:
            self._errors.close()
            self._errors = None


FALLBACK_ENDPOINT = "tcp://127.0.0.1:0"
"""Where the publisher binds when its own endpoint cannot be bound: any free loopback port."""


class EmbeddedStack:
    """Everything bare `zmqtui` starts: the watcher's publisher, in the monitor's process (so
    the publisher pane sees it from inside), and the filer cluster, a child process. Whoever
    makes it calls `stop` (safe to call twice, and from a signal handler); the bridge only
    shows what it does.

    Args:
        watch_path: the directory the publisher watches (events name files under it as typed).
        pub: where the publisher binds (a free loopback port if it cannot).
        cluster: the cluster child, started by `start_cluster`; None for none.
        recursive: watch the subdirectories too.
        tap: a tap in front of the cluster, started and stopped with it; None for none.
    """

    def __init__(
        self,
        watch_path: Path,
        pub: str,
        cluster: EmbeddedCluster | None = None,
        *,
        recursive: bool = False,
        tap: EmbeddedTap | None = None,
    ) -> None:
        self.watch_path = watch_path
        self.pub = pub
        self.cluster = cluster
        self.recursive = recursive
        self.tap = tap
        self.publisher: ChangePublisher | None = None
        self.running: asyncio.Task[None] | None = None
        """The publisher's task, once it is bound."""

    async def start_publisher(
        self, ctx: zmq.asyncio.Context, on_failed: Callable[[str, str], None]
    ) -> ChangePublisher | None:
        """Bind and run the publisher on `pub`, else on a free port (`on_failed(endpoint,
        why)` is told of each endpoint that failed); None when none could be bound."""
        for endpoint in (self.pub, FALLBACK_ENDPOINT):
            publisher = ChangePublisher(
                ctx, endpoint, [str(self.watch_path)], recursive=self.recursive
            )
            running = asyncio.create_task(publisher.run())
            bound = asyncio.create_task(publisher.bound.wait())
            await asyncio.wait({running, bound}, return_when=asyncio.FIRST_COMPLETED)
            if bound.done():
                self.publisher, self.running = publisher, running
                return publisher
            bound.cancel()
            error = running.exception() if not running.cancelled() else None
            on_failed(endpoint, str(error))
        return None

    async def stop_publisher(self) -> None:
        running, self.running, self.publisher = self.running, None, None
        if running is not None:
            running.cancel()
            with contextlib.suppress(BaseException):
                await running

    def start_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.start()
        if self.tap is not None:
            self.tap.start()

    def stop(self) -> None:
        """Stop the cluster and what it started, and the tap (the publisher ends with the
        monitor's loop)."""
        if self.tap is not None:
            self.tap.stop()
        if self.cluster is not None:
            self.cluster.stop()
