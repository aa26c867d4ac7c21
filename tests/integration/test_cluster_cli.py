"""`zmqtui cluster`, `zmqtui ctl` and `zmqtui request` as subprocesses over loopback TCP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from clusters import ClusterProcess, read_line
from helpers import TARGET_TEXT, Processes, free_tcp_port, free_tcp_ports, wait_for_sync

from zmqtui.commands.ctl import command as ctl_command
from zmqtui.commands.worker import command as worker_command
from zmqtui.security import write_key_pair
from zmqtui.services.broker import DEFAULT_ROUTING

pytestmark = pytest.mark.integration


def gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def runtime_dir(listing: dict) -> Path:
    return Path(listing["endpoints"]["backend"].removeprefix("ipc://")).parent


def test_cluster_serves_takes_orders_and_stops_cleanly(processes: Processes, served_root: Path):
    cluster = ClusterProcess(processes, served_root, "--workers", "2")
    assert read_line(cluster.proc) == f"Cluster listening for zmq requesters on {cluster.frontend}"
    listing = cluster.wait_ready(2)
    runtime = runtime_dir(listing)
    assert runtime.is_dir() and (runtime.stat().st_mode & 0o777) == 0o700

    answered = cluster.request("target.txt", "--connect", cluster.frontend)
    assert answered.returncode == 0, answered.stderr
    assert TARGET_TEXT.strip() in answered.stdout

    table = cluster.ctl("list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert f"routing {DEFAULT_ROUTING}" in lines[0] and lines[1].startswith("SLOT")
    assert len(lines) == 4 and all(" ready " in line or " busy " in line for line in lines[2:])

    scaled = cluster.ctl("scale", "3")
    assert (scaled.exit_code, scaled.stdout.strip()) == (0, "scaled to 3 local workers")
    pids = [w["pid"] for w in cluster.wait_ready(3)["workers"]]

    killed = cluster.ctl("kill", str(pids[0]))
    assert killed.exit_code == 0, killed.output
    after = cluster.wait_ready(3, without=pids[0])
    assert sum(w["crashes"] for w in after["workers"]) == 1

    refused = cluster.ctl("restart", "1")
    assert refused.exit_code == 1 and "no worker with pid 1" in refused.stderr

    pids = [w["pid"] for w in after["workers"]]
    cluster.proc.send_signal(signal.SIGTERM)
    assert cluster.proc.wait(timeout=15) == 0
    assert gone(pids)
    assert not runtime.exists()


def test_workers_exit_when_their_supervisor_is_killed(processes: Processes, served_root: Path):
    cluster = ClusterProcess(processes, served_root, "--workers", "2")
    read_line(cluster.proc)
    listing = cluster.wait_ready(2)
    pids = [w["pid"] for w in listing["workers"]]
    try:
        cluster.proc.send_signal(signal.SIGKILL)
        cluster.proc.wait(timeout=10)
        wait_for_sync(lambda: gone(pids), timeout=10)
    finally:
        shutil.rmtree(runtime_dir(listing), ignore_errors=True)


def test_a_paused_supervisor_keeps_its_healthy_workers(processes: Processes, served_root: Path):
    cluster = ClusterProcess(processes, served_root, "--workers", "2")
    read_line(cluster.proc)
    before = cluster.wait_ready(2)
    cluster.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(2.5)  # the pause itself: 12 heartbeats of 200 ms, 8 missed make one stale
    finally:
        cluster.proc.send_signal(signal.SIGCONT)
    for _ in range(2):  # the first look after the pause, and one after the next heartbeats
        after = cluster.listing()
        assert [(w["pid"], w["state"], w["crashes"]) for w in after["workers"]] == [
            (w["pid"], "ready", 0) for w in before["workers"]
        ]
        time.sleep(0.3)


def test_the_next_cluster_removes_what_a_killed_one_left(processes: Processes, served_root: Path):
    temp = Path(tempfile.mkdtemp(prefix="zq"))  # short: ipc paths have a length limit
    env = {**os.environ, "TMPDIR": str(temp)}
    try:
        killed = ClusterProcess(processes, served_root, "--workers", "1", env=env)
        read_line(killed.proc)
        left = runtime_dir(killed.wait_ready(1))
        assert left.parent == temp and list(left.glob("*.counters"))
        killed.proc.send_signal(signal.SIGKILL)
        killed.proc.wait(timeout=10)
        assert left.is_dir()  # its sockets and counter files, and no one to remove them
        following = ClusterProcess(processes, served_root, "--workers", "0", env=env)
        read_line(following.proc)
        assert not left.exists()
        assert [path.name for path in temp.iterdir()] == [runtime_dir(following.listing()).name]
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def test_second_cluster_on_the_same_endpoints_fails_fast(processes: Processes, served_root: Path):
    first = ClusterProcess(processes, served_root, "--workers", "1", "--routing", "rr")
    read_line(first.proc)
    before = first.wait_ready(1)
    shown = json.loads(first.ctl("--json", "list").stdout)
    assert shown["ok"] and shown["routing"] == "rr"
    assert set(shown["broker"]) >= {"frontend_in", "backend_out"}

    second = ClusterProcess(processes, served_root, "--workers", "1", ports=first.ports)
    assert second.proc.wait(timeout=15) == 2
    assert second.proc.stderr is not None
    assert "already in use" in second.proc.stderr.read()

    after = first.wait_ready(1)
    assert [w["pid"] for w in after["workers"]] == [w["pid"] for w in before["workers"]]
    stopped = first.ctl("stop")
    assert (stopped.exit_code, stopped.stdout.strip()) == (0, "stopping the cluster")
    assert first.proc.wait(timeout=15) == 0
    assert gone([w["pid"] for w in after["workers"]])


def test_workers_read_the_clusters_config_and_its_curve_keys(
    processes: Processes, served_root: Path, tmp_path: Path
):
    keys = write_key_pair(tmp_path / "keys", "cluster")
    config = tmp_path / "zmqtui.toml"
    config.write_text(f'curve_secret = "{keys.secret}"\n')
    # Distinct ports, the heartbeat named: its default (backend + 1) could be another one here.
    *ports, backend, heartbeat = free_tcp_ports(5)
    cluster = ClusterProcess(
        processes,
        served_root,
        "--workers",
        "1",
        "--backend",
        f"tcp://127.0.0.1:{backend}",
        "--heartbeat",
        f"tcp://127.0.0.1:{heartbeat}",
        "--config",
        str(config),
        ports=ports,
    )
    assert read_line(cluster.proc) == f"Cluster listening for zmq requesters on {cluster.frontend}"
    # Workers without the keys never get through the CURVE backend: nothing would answer.
    answered = cluster.request(
        "target.txt", "--connect", cluster.frontend, "--config", str(config), "--tries", "8"
    )
    assert answered.returncode == 0, answered.stderr
    assert TARGET_TEXT.strip() in answered.stdout


def test_worker_takes_a_config_file(served_root: Path, tmp_path: Path):
    config = tmp_path / "zmqtui.toml"
    config.write_text('curve_secret = "/nonexistent.key_secret"\n')
    result = CliRunner().invoke(
        worker_command,
        ["--connect", "tcp://127.0.0.1:1", "--root", str(served_root), "--config", str(config)],
    )
    assert result.exit_code == 2 and "nonexistent.key_secret" in result.output


def test_ctl_reports_a_missing_cluster_and_bad_usage():
    runner = CliRunner()
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    missing = runner.invoke(
        ctl_command, ["--control", endpoint, "--timeout", "100", "--tries", "2", "list"]
    )
    assert missing.exit_code == 2 and "no reply" in missing.output
    assert runner.invoke(ctl_command, ["scale"]).exit_code == 2
    assert runner.invoke(ctl_command, ["list", "3"]).exit_code == 2
    assert runner.invoke(ctl_command, ["explode"]).exit_code == 2
