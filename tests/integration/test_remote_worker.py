"""A worker as another host runs it: under systemd's notify protocol, probed, drained from ctl."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clusters import START, ClusterProcess, read_line
from helpers import TARGET_TEXT, Processes, free_tcp_ports, wait_for_sync

pytestmark = pytest.mark.integration


class FakeSystemd:
    """A unix datagram socket standing in for systemd's `NOTIFY_SOCKET`."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="zt-notify-")  # short: sun_path is 108 bytes
        self.path = os.path.join(self.directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.received: list[dict[str, str]] = []

    def next(self, timeout: float) -> dict[str, str] | None:
        """The next datagram as its KEY=VALUE lines, or None after `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            raw = self.sock.recv(4096)
        except TimeoutError:
            return None
        message = dict(line.split("=", 1) for line in raw.decode().splitlines())
        self.received.append(message)
        return message

    def wait_for(self, key: str, value: str | None = None, timeout: float = START) -> dict:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.next(left)
            if message and key in message and (value is None or value in message[key]):
                return message
        raise AssertionError(f"no {key} from the worker within {timeout}s: {self.received}")

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def systemd() -> Iterator[FakeSystemd]:
    fake = FakeSystemd()
    yield fake
    fake.close()


class Remote:
    """A cluster without local workers, its backend and heartbeat endpoint on TCP."""

    def __init__(self, processes: Processes, served_root: Path, *extra: str) -> None:
        *ports, backend, heartbeat = free_tcp_ports(5)
        self.backend = f"tcp://127.0.0.1:{backend}"
        self.heartbeat = f"tcp://127.0.0.1:{heartbeat}"
        self.root = served_root
        self.cluster = ClusterProcess(
            processes,
            served_root,
            "--workers",
            "0",
            "--backend",
            self.backend,
            "--heartbeat",
            self.heartbeat,
            *extra,
            ports=ports,
        )
        assert read_line(self.cluster.proc).startswith("Cluster listening")

    def worker_args(self) -> list[str]:
        """`zmqtui worker` as another host would start it for this cluster."""
        return [
            "worker",
            "--connect",
            self.backend,
            "--heartbeat",
            self.heartbeat,
            "--root",
            str(self.root),
            "--heartbeat-ms",
            "200",
        ]


def test_worker_speaks_systemds_notify_protocol(
    processes: Processes, served_root: Path, systemd: FakeSystemd
):
    remote = Remote(processes, served_root)
    cluster, backend = remote.cluster, remote.backend
    env = {**os.environ, "NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "400000"}
    worker = processes.start(*remote.worker_args(), env=env)

    ready = systemd.wait_for("READY", "1")
    assert backend in ready["STATUS"]
    for _ in range(2):  # every 200 ms (half of WATCHDOG_USEC) while the broker answers
        systemd.wait_for("WATCHDOG", "1", timeout=2)
    answered = cluster.request("target.txt", "--connect", cluster.frontend)
    assert answered.returncode == 0 and TARGET_TEXT.strip() in answered.stdout

    # The broker goes away: no more WATCHDOG, so systemd would restart the worker.
    assert cluster.ctl("stop").exit_code == 0
    assert cluster.proc.wait(timeout=15) == 0
    systemd.wait_for("STATUS", "waiting for the broker", timeout=5)
    quiet_until = time.monotonic() + 1.0
    while (left := quiet_until - time.monotonic()) > 0:
        message = systemd.next(left)
        assert message is None or "WATCHDOG" not in message, message

    worker.send_signal(signal.SIGTERM)
    systemd.wait_for("STOPPING", "1", timeout=10)
    assert worker.wait(timeout=10) == 0


def test_worker_check_says_whether_the_broker_answers(processes: Processes, served_root: Path):
    remote = Remote(processes, served_root)
    backend = remote.backend
    check = [sys.executable, "-m", "zmqtui", *remote.worker_args()[:5], "--check"]
    reached = subprocess.run(check, capture_output=True, text=True, timeout=30)
    assert reached.returncode == 0, reached.stderr
    assert f"broker reachable at {backend}" in reached.stdout

    nobody = f"tcp://127.0.0.1:{free_tcp_ports(1)[0]}"
    missed = subprocess.run(
        [*check[:5], nobody, "--heartbeat", nobody, "--check", "--check-timeout-ms", "300"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert missed.returncode == 1
    assert "cannot reach the broker" in missed.stderr and nobody in missed.stderr


def test_ctl_drains_a_remote_worker_named_by_host_and_pid(processes: Processes, served_root: Path):
    remote = Remote(processes, served_root)
    cluster = remote.cluster
    worker = processes.start(*remote.worker_args())
    listing = cluster.wait_ready(1)
    (entry,) = listing["workers"]
    assert (entry["remote"], entry["pid"], entry["host"]) == (
        True,
        worker.pid,
        socket.gethostname(),
    )
    shown = cluster.ctl("list").stdout
    assert f"(remote on {socket.gethostname()})" in shown

    drained = cluster.ctl("drain", str(worker.pid))
    assert drained.exit_code == 0, drained.output
    assert f"draining remote worker pid {worker.pid}" in drained.stdout
    assert worker.wait(timeout=10) == 0  # it leaves by itself; its supervisor decides the rest
    wait_for_sync(lambda: not cluster.listing()["workers"], timeout=5)

    unknown = cluster.ctl("drain", str(worker.pid))
    assert unknown.exit_code == 1 and "no worker with pid" in unknown.output


def test_ctl_drains_a_local_worker_as_remove_does(processes: Processes, served_root: Path):
    cluster = Remote(processes, served_root, "--workers", "1").cluster
    (local,) = cluster.wait_ready(1)["workers"]
    drained = cluster.ctl("drain", str(local["pid"]))
    assert drained.exit_code == 0, drained.output
    assert f"draining pid {local['pid']}; slot {local['slot']} removed" in drained.stdout
    wait_for_sync(lambda: not cluster.listing()["workers"], timeout=5)


def test_rr_cannot_drain_a_remote_worker(processes: Processes, served_root: Path):
    remote = Remote(processes, served_root, "--routing", "rr")
    cluster = remote.cluster
    worker = processes.start(*remote.worker_args())
    cluster.wait_ready(1)
    refused = cluster.ctl("drain", str(worker.pid))
    assert refused.exit_code == 1 and "rr routing cannot drain" in refused.output
    assert worker.poll() is None
