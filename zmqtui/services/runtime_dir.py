"""The private runtime directory of a cluster or a monitor, and the clearing of those left by
killed ones.

A cluster keeps its backend and heartbeat `ipc://` sockets and its workers' counter files in a
0700 directory under the temp directory, removed when it stops; a monitor keeps its ingest's
`ipc://` control socket and its embedded cluster's log in one. One killed outright (SIGKILL,
the OOM killer) cannot remove it: its name carries the owner's pid, so the next cluster or
monitor this user starts removes every such directory of this user whose owner is gone, and
nothing else (another user's, a live process's, one whose pid is in use again).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)

PREFIX = "zmqtui-cluster-"
_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-\w+")


def make_runtime_dir() -> Path:
    """A new 0700 directory named after this process, for one cluster's or monitor's run."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))


def clear_stale_runtime_dirs(parent: Path | None = None) -> list[Path]:
    """Remove the runtime directories in `parent` (the temp directory) that clusters and
    monitors of this user left behind when they were killed; return them."""
    parent = Path(tempfile.gettempdir()) if parent is None else parent
    try:
        candidates = [(path, _NAME.fullmatch(path.name)) for path in parent.iterdir()]
    except OSError:
        return []
    removed = []
    for path, match in candidates:
        if match is None or _owner_alive(int(match[1])):
            continue
        try:
            info = path.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue  # not ours, or a symlink someone put in the way
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        logger.info("removed %d runtime directories of killed clusters or monitors", len(removed))
    return removed


def _owner_alive(pid: int) -> bool:
    """Whether `pid` names a process (a zombie is dead: it only waits to be reaped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # it exists, but we may not look: leave its directory alone
