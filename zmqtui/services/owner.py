"""The process a service lives for: when it is gone, the service stops too.

The monitor starts its embedded cluster with `--owner-pid` naming itself. If the monitor dies
without stopping it (`kill -9`, the OOM killer, a crash past its clean-up), nothing else would
end the cluster and its workers: they would hold the default ports forever. Watching the owner
by polling works on every platform, and psutil compares the process's start time, so a new
process that got the same pid is not mistaken for the owner.
"""

from __future__ import annotations

import asyncio
import logging
import os

import psutil

logger = logging.getLogger(__name__)

OWNER_POLL_S = 0.25
"""How often the owner is looked at: the most a service outlives it, before its own stop."""


class Owner:
    """A process to outlive by no more than a poll; a pid that does not run counts as gone."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._is_parent = pid == os.getppid()
        try:
            self._process: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._process = None

    def alive(self) -> bool:
        """Whether the owner still runs (a zombie, dead but not yet reaped, does not)."""
        if self._is_parent and os.getppid() != self.pid:
            return False  # reparented: the parent died
        process = self._process
        if process is None:
            return False
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    async def gone(self, poll_s: float = OWNER_POLL_S) -> None:
        """Return once the owner no longer runs."""
        while self.alive():
            await asyncio.sleep(poll_s)
        logger.warning("the owner process %d is gone; stopping", self.pid)
