"""The embedded stack: ports, attach-mode detection, and a real monitor that quits cleanly."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from helpers import Terminal, wait_for_sync

from zmqtui.commands.monitor import attach_endpoints
from zmqtui.commands.monitor import command as monitor
from zmqtui.config import ConfigError
from zmqtui.services.runtime_dir import clear_stale_runtime_dirs
from zmqtui.services.stack import (
    ClusterEndpoints,
    EmbeddedCluster,
    pick_endpoint,
    port_is_free,
)


def test_pick_endpoint_keeps_a_free_port_and_replaces_a_taken_one() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        endpoint = f"tcp://127.0.0.1:{port}"
        assert not port_is_free(endpoint)
        replacement = pick_endpoint(endpoint)
        assert replacement != endpoint and replacement.startswith("tcp://127.0.0.1:")
    assert pick_endpoint(endpoint) == endpoint
    assert pick_endpoint(endpoint, taken={endpoint}) != endpoint
    assert pick_endpoint("ipc:///tmp/x") == "ipc:///tmp/x"


@pytest.mark.integration
def test_the_embedded_cluster_reads_the_monitors_config_file(tmp_path: Path) -> None:
    config = tmp_path / "zmqtui.toml"
    config.write_text('not_a_setting = "seen by the cluster"\n')
    endpoints = ClusterEndpoints(*(f"ipc://{tmp_path}/{name}" for name in ("req", "stats", "ctl")))
    with EmbeddedCluster(tmp_path, endpoints, workers=1, config_file=config) as cluster:
        assert wait_for_sync(lambda: cluster.poll() is not None, timeout=20)
        assert "not_a_setting" in cluster.log_tail()


def test_more_workers_than_the_cluster_takes_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(monitor, [str(tmp_path), "--workers", "257"])
    assert result.exit_code == 2
    assert "--workers" in result.output and "256" in result.output


def test_attach_mode_comes_from_options_config_or_environment(tmp_path: Path) -> None:
    environ = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert attach_endpoints({"pub": None, "req": None}, None, environ) == {}
    assert attach_endpoints({"pub": "tcp://127.0.0.1:5556"}, None, environ) == {
        "pub": "tcp://127.0.0.1:5556"
    }
    environ["ZMQTUI_STATS"] = "ipc:///tmp/stats"
    config = tmp_path / "zmqtui.toml"
    config.write_text('req = "tcp://127.0.0.1:7001"\ntimeout_ms = 100\n')
    assert attach_endpoints({"control": "tcp://[::1]:7003"}, str(config), environ) == {
        "stats": "ipc:///tmp/stats",
        "req": "tcp://127.0.0.1:7001",
        "control": "tcp://[::1]:7003",
    }
    with pytest.raises(ConfigError):
        attach_endpoints({"pub": "nonsense"}, None, environ)


@pytest.mark.integration
@pytest.mark.usefixtures("default_ports")
@pytest.mark.parametrize("ending", ["q", "hangup", "sigterm"])
def test_ending_the_monitor_stops_the_embedded_stack(tmp_path: Path, ending: str) -> None:
    """However the monitor ends - `q`, its terminal closed, SIGTERM - nothing it started stays."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "a.txt").write_text("hello\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZMQTUI_")}
    env.update(TERM="xterm-256color", XDG_CONFIG_HOME=str(tmp_path))
    terminal = Terminal()
    monitor = subprocess.Popen(
        [sys.executable, "-m", "zmqtui", str(served), "--workers", "1"],
        stdin=terminal.slave,
        stdout=terminal.slave,
        stderr=terminal.slave,
        env=env,
        start_new_session=True,
    )
    terminal.start()
    family: list[psutil.Process] = []
    try:

        def stack_is_up() -> bool:
            try:
                children = psutil.Process(monitor.pid).children(recursive=True)
                cluster = [p for p in children if "cluster" in p.cmdline()]
                if cluster and cluster[0].children():
                    family[:] = children
                    return True
            except psutil.NoSuchProcess:  # a short-lived child came and went while we looked
                pass
            return False

        wait_for_sync(stack_is_up, timeout=30)
        cluster = next(p for p in family if "cluster" in p.cmdline())
        backend = cluster.cmdline()[cluster.cmdline().index("--backend") + 1]
        backend_dir = Path(backend.removeprefix("ipc://")).parent
        assert backend_dir.is_dir()
        wait_for_sync(lambda: b"Workers" in terminal.output, timeout=15)  # the screen is up

        started = time.monotonic()
        if ending == "q":
            terminal.type(b"q")
        elif ending == "hangup":
            terminal.close()
            monitor.send_signal(signal.SIGHUP)
        else:
            monitor.send_signal(signal.SIGTERM)
        code = monitor.wait(timeout=15)
        print(f"the monitor and its stack stopped {time.monotonic() - started:.2f}s after {ending}")
        assert code == (128 + signal.SIGHUP if ending == "hangup" else 0)
        assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert not backend_dir.exists()
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()
        for process in family:
            if process.is_running():
                process.kill()
        terminal.close()


OWNER_SCRIPT = """
import sys, time
from pathlib import Path
from zmqtui.services.stack import ClusterEndpoints, EmbeddedCluster
root = Path(sys.argv[1])
cluster = EmbeddedCluster(
    root, ClusterEndpoints(*(f"ipc://{root}/{name}" for name in ("req", "stats", "ctl"))), workers=1
)
cluster.start()
print(cluster.process.pid, cluster.log_path.parent, flush=True)
time.sleep(120)
"""


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@pytest.mark.integration
def test_a_monitor_killed_outright_leaves_no_cluster_behind(tmp_path: Path) -> None:
    """kill -9 of the process that started the embedded cluster: the cluster notices and stops
    its workers, instead of holding the ports forever."""
    # A temp dir of its own: a cluster another test starts meanwhile clears killed ones' dirs
    # in the shared one. Short: the cluster's ipc paths in it have a length limit.
    temp = tempfile.mkdtemp(prefix="zt-")
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "TMPDIR": temp},
    )
    family: list[psutil.Process] = []
    try:
        assert owner.stdout is not None
        pid, log_dir = owner.stdout.readline().split()
        cluster = psutil.Process(int(pid))
        family.append(cluster)
        family += wait_for_sync(cluster.children, timeout=30)  # its worker

        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=5)
        started = time.monotonic()
        wait_for_sync(lambda: not any(_running(p) for p in family), timeout=10)
        print(f"the cluster and its worker ended {time.monotonic() - started:.2f}s after kill -9")
        assert not (tmp_path / "req").exists()  # the cluster's sockets are closed and removed
        assert clear_stale_runtime_dirs(Path(log_dir).parent) == [Path(log_dir)], (
            "the next cluster clears the directory the killed monitor left"
        )
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        for process in family:
            if _running(process):
                process.kill()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.integration
def test_an_embedded_cluster_killed_outright_starts_again_on_its_endpoints(tmp_path: Path) -> None:
    endpoints = ClusterEndpoints(*(f"ipc://{tmp_path}/{name}" for name in ("req", "stats", "ctl")))
    with EmbeddedCluster(tmp_path, endpoints, workers=1) as cluster:
        assert cluster.process is not None
        first = cluster.process
        wait_for_sync(lambda: (tmp_path / "ctl").exists(), timeout=30)
        first.kill()
        first.wait()
        assert cluster.poll() == -signal.SIGKILL
        cluster.restart()
        assert cluster.process is not first and cluster.poll() is None
        second = psutil.Process(cluster.process.pid)
        assert wait_for_sync(second.children, timeout=30), "the new cluster starts its worker"
        # the log may first say it cleared a killed one's runtime directory: wait for the line
        wait_for_sync(lambda: "Cluster listening" in cluster.log_tail(), timeout=30)
    assert not second.is_running() or second.status() == psutil.STATUS_ZOMBIE
