"""The owner a service lives for: alive while it runs, gone once dead, even unreaped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import psutil
import pytest

from zmqtui.services.owner import Owner


def test_a_running_owner_is_alive_and_a_pid_that_never_ran_is_not() -> None:
    assert Owner(os.getpid()).alive()
    unused = max(psutil.pids()) + 100_000  # beyond any pid in use (pid_max is at most 4M)
    assert not Owner(unused).alive()


@pytest.mark.integration
async def test_a_dead_owner_is_gone_before_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = Owner(child.pid)
        assert owner.alive()
        child.kill()
        await asyncio.wait_for(owner.gone(poll_s=0.01), timeout=5)  # a zombie until wait()
    finally:
        child.kill()
        child.wait()
