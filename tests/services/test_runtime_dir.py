"""Runtime directories left by killed clusters: the next cluster removes its user's, only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zmqtui.services.runtime_dir import PREFIX, clear_stale_runtime_dirs, make_runtime_dir


@pytest.fixture
def dead_pid() -> int:
    """A pid no process can have: past the kernel's largest."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


def left_behind(parent: Path, name: str) -> Path:
    """A runtime directory as a killed cluster leaves it: ipc socket files, counter files."""
    path = parent / name
    path.mkdir(mode=0o700)
    (path / "backend").touch()
    (path / "s0-1a2b3c4d.counters").write_bytes(bytes(32))
    return path


def test_a_killed_clusters_directory_is_removed_and_nothing_else(tmp_path: Path, dead_pid: int):
    stale = left_behind(tmp_path, f"{PREFIX}{dead_pid}-abc_123")
    live = left_behind(tmp_path, f"{PREFIX}{os.getpid()}-abc_123")
    unnamed = left_behind(tmp_path, f"{PREFIX}abc_123")  # whose owner cannot be told
    elsewhere = left_behind(tmp_path, "elsewhere")
    (tmp_path / f"{PREFIX}{dead_pid}-link").symlink_to(elsewhere)
    (tmp_path / f"{PREFIX}{dead_pid}-file").write_text("not a directory")
    assert clear_stale_runtime_dirs(tmp_path) == [stale]
    assert not stale.exists()
    assert live.is_dir() and unnamed.is_dir() and (elsewhere / "backend").exists()
    assert (tmp_path / f"{PREFIX}{dead_pid}-file").exists()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give a directory to another user")
def test_another_users_directory_is_left_alone(tmp_path: Path, dead_pid: int):
    theirs = left_behind(tmp_path, f"{PREFIX}{dead_pid}-theirs")
    os.chown(theirs, 12345, 12345)
    assert clear_stale_runtime_dirs(tmp_path) == []
    assert theirs.is_dir()


def test_a_new_directory_is_private_and_named_after_its_owner(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    made = make_runtime_dir()
    try:
        assert made.parent == tmp_path and made.name.startswith(f"{PREFIX}{os.getpid()}-")
        assert made.stat().st_mode & 0o777 == 0o700
        assert clear_stale_runtime_dirs() == []
    finally:
        made.rmdir()
