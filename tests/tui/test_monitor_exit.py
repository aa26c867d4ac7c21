"""The monitor's exit status says how it ended: a crash is not a clean quit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Terminal, free_tcp_port, wait_for_sync

CRASHING_MONITOR = """
import sys
from zmqtui.cli import main
from zmqtui.tui.app import ZmqtuiApp

def crash(self):
    raise RuntimeError("a bug in the monitor")

ZmqtuiApp.on_mount = crash
main(sys.argv[1:], prog_name="zmqtui")
"""


@pytest.mark.integration
def test_a_monitor_that_crashes_exits_non_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZMQTUI_")}
    env.update(TERM="xterm-256color", XDG_CONFIG_HOME=str(tmp_path))
    terminal = Terminal()
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    monitor = subprocess.Popen(
        [sys.executable, "-c", CRASHING_MONITOR, "--req", endpoint],
        stdin=terminal.slave,
        stdout=terminal.slave,
        stderr=terminal.slave,
        env=env,
        start_new_session=True,
    )
    terminal.start()
    try:
        assert monitor.wait(timeout=30) == 1
        wait_for_sync(lambda: b"a bug in the monitor" in terminal.output)  # the traceback
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()
        terminal.close()
