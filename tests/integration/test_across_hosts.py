"""A cluster across three hosts: network namespaces joined by veth links, CURVE on, a link cut.

The broker's namespace is linked to each worker's by its own veth pair, with addresses that
exist only inside these namespaces. Each worker also gets a host name of its own (a UTS
namespace), as on another machine. The test loads the cluster through a retrying client, cuts
one link, sees that worker declared lost within the heartbeat liveness while the client loses
nothing, restores the link and sees the worker back at work. The namespaces are deleted
whatever happens; without the privilege to make them the test skips and says why.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import Processes

from zmqtui.security import write_key_pair

pytestmark = pytest.mark.integration

HEARTBEAT_MS = 250
LIVENESS = 4
LOST_WITHIN = HEARTBEAT_MS * LIVENESS / 1000
"""The heartbeat liveness: silence after which the cluster declares a worker lost."""
SLACK_S = 0.5
"""Beyond the liveness: the supervisor's tick and a stats interval, on a busy machine."""
BACKEND_PORT = 60410
"""Free in any case: the broker's namespace has nothing else in it."""
AGENT = Path(__file__).with_name("netns_agent.py")
START = 30.0


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


@dataclass
class Hosts:
    """The namespaces: `broker`, and per worker its namespace, address and the broker's link."""

    tag: str
    broker: str
    workers: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    """worker host name -> (namespace, broker address it connects to, broker-side veth)."""


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN)")
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        pytest.skip("needs `ip` (iproute2) and `unshare` (util-linux)")
    tag = secrets.token_hex(3)
    made = Hosts(tag=tag, broker=f"zt{tag}b")
    created: list[str] = []
    try:
        ip("netns", "add", made.broker)
        created.append(made.broker)
        ip("-n", made.broker, "link", "set", "lo", "up")
        for n in (1, 2):
            ns, ours, theirs = f"zt{tag}w{n}", f"zt{tag}b{n}", f"zt{tag}w{n}"
            ip("netns", "add", ns)
            created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ip(
                "link",
                "add",
                ours,
                "netns",
                made.broker,
                "type",
                "veth",
                "peer",
                theirs,
                "netns",
                ns,
            )
            ip("-n", made.broker, "addr", "add", f"10.99.{n}.1/24", "dev", ours)
            ip("-n", ns, "addr", "add", f"10.99.{n}.2/24", "dev", theirs)
            ip("-n", made.broker, "link", "set", ours, "up")
            ip("-n", ns, "link", "set", theirs, "up")
            made.workers[f"zt-host-{n}"] = (ns, f"10.99.{n}.1", ours)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        for ns in created:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
        reason = getattr(exc, "stderr", "") or str(exc)
        pytest.skip(f"cannot create network namespaces here: {reason.strip()}")
    try:
        yield made
    finally:
        for ns in created:  # a namespace's veth ends go with it, and their peers too
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


class Lines:
    """A child's stdout read on a thread, one JSON object per line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.items: list[dict] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                with self._lock:
                    self.items.append(json.loads(line))

    def wait(self, predicate: Callable[[dict], bool], timeout: float, after: float = 0) -> dict:
        """The first line (at `t` >= `after`, if timed) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for item in self.items:
                    if item.get("t", after) >= after and predicate(item):
                        return item
            time.sleep(0.02)
        with self._lock:
            last = self.items[-1] if self.items else None
        raise AssertionError(f"no such line within {timeout}s; last: {last}")


def start_in(
    processes: Processes, netns: str, *argv: str, env: dict[str, str], host: str | None = None
) -> subprocess.Popen[str]:
    """Start `argv` inside `netns` (and a UTS namespace named `host`), reaped by `processes`."""
    command = ["ip", "netns", "exec", netns, *argv]
    if host is not None:
        script = 'hostname "$0" && exec "$@"'
        command = ["unshare", "--uts", "sh", "-c", script, host, *command]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    processes.children.append(proc)
    return proc


def states(snapshot: dict) -> dict[str, tuple[int, str, int]]:
    return {w["host"]: (w["pid"], w["state"], w["requests"]) for w in snapshot["workers"]}


@pytest.mark.slow
def test_a_cut_link_loses_one_worker_for_a_while_and_no_request(
    hosts: Hosts, processes: Processes, tmp_path: Path
):
    root = tmp_path / "root"
    root.mkdir()
    (root / "target.txt").write_text("served across hosts\n")
    keys = tmp_path / "keys"
    server, client = write_key_pair(keys, "cluster"), write_key_pair(keys, "worker")
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    shutil.copy(client.public, authorized)
    base = {k: v for k, v in os.environ.items() if not k.startswith("ZMQTUI_")}
    base["ZMQTUI_CONFIG"] = str(tmp_path / "empty.toml")  # nothing from the user's own file
    (tmp_path / "empty.toml").write_text("")
    cluster_env = {
        **base,
        "ZMQTUI_CURVE_SECRET": str(server.secret),
        "ZMQTUI_CURVE_AUTHORIZED": str(authorized),
    }
    client_env = {
        **base,
        "ZMQTUI_CURVE_SECRET": str(client.secret),
        "ZMQTUI_CURVE_SERVER": str(server.public),
    }
    python = [sys.executable, "-m", "zmqtui"]
    frontend, stats = "tcp://127.0.0.1:60401", "tcp://127.0.0.1:60402"

    cluster = start_in(
        processes,
        hosts.broker,
        *python,
        "cluster",
        "--root",
        str(root),
        "--workers",
        "0",
        "--backend",
        f"tcp://0.0.0.0:{BACKEND_PORT}",
        "--bind",
        frontend,
        "--stats",
        stats,
        "--control",
        "tcp://127.0.0.1:60403",
        "--liveness",
        str(LIVENESS),
        "--stats-interval-ms",
        "100",
        env=cluster_env,
    )
    assert cluster.stdout is not None and cluster.stderr is not None
    if not cluster.stdout.readline().startswith("Cluster listening"):
        raise AssertionError(f"the cluster did not start: {cluster.stderr.read()}")
    watcher = Lines(
        start_in(
            processes, hosts.broker, sys.executable, str(AGENT), "watch", stats, env=client_env
        )
    )
    pids = {}
    for host, (ns, address, _) in hosts.workers.items():
        worker = start_in(
            processes,
            ns,
            *python,
            "worker",
            "--connect",
            f"tcp://{address}:{BACKEND_PORT}",
            "--root",
            str(root),
            "--heartbeat-ms",
            str(HEARTBEAT_MS),
            env=client_env,
            host=host,
        )
        pids[host] = worker.pid
    cut_host = next(iter(hosts.workers))
    watcher.wait(
        lambda s: (
            {h: v[:2] for h, v in states(s).items()}
            == {h: (pid, "ready") for h, pid in pids.items()}
        ),
        START,
    )

    load = start_in(
        processes, hosts.broker, sys.executable, str(AGENT), "load", frontend, env=client_env
    )
    requests = Lines(load)
    requests.wait(lambda line: line.get("started", False), START)
    watcher.wait(lambda s: all(v[2] > 0 for v in states(s).values()), 15)  # both at work

    cut_at = time.monotonic()
    ip("-n", hosts.broker, "link", "set", hosts.workers[cut_host][2], "down")
    lost = watcher.wait(
        lambda s: states(s).get(cut_host, (0, "gone"))[1] in ("stale", "gone"),
        10,
        after=cut_at,
    )
    lost_after = lost["t"] - cut_at
    assert lost_after <= LOST_WITHIN + SLACK_S, lost_after
    answered_then = states(lost)[cut_host][2] if cut_host in states(lost) else 0
    time.sleep(1.0)  # requests keep coming while the worker is cut off; all go to the other

    restored_at = time.monotonic()
    ip("-n", hosts.broker, "link", "set", hosts.workers[cut_host][2], "up")
    back = watcher.wait(
        lambda s: (
            (entry := states(s).get(cut_host)) is not None
            and entry[0] == pids[cut_host]
            and entry[1] in ("ready", "busy")
            and entry[2] > answered_then
        ),
        15,
        after=restored_at,
    )
    back_after = back["t"] - restored_at

    assert load.stdin is not None
    load.stdin.close()  # the client stops sending, waits for what it has in flight
    summary = requests.wait(lambda line: "sent" in line, 30)
    requeued = back["broker"].get("requests_requeued", 0)
    figures = (
        f"lost after {lost_after:.2f}s (liveness {LOST_WITHIN:.2f}s); back {back_after:.2f}s "
        f"after the link; {summary['sent']} requests, {summary['retried']} retried, "
        f"{requeued} re-queued by the broker, {summary['lost']} lost, slowest "
        f"{summary['slowest_ms']} ms"
    )
    print(figures)
    assert summary["lost"] == 0, figures
    assert set(summary["by_pid"]) == {str(pid) for pid in pids.values()}, summary
