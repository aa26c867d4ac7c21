"""Every benchmark still runs: `python -m benchmarks --quick --only NAME`, each in a process.

The figures of a quick run mean nothing and are not checked; what is checked is that each
benchmark finishes, reports every table with its rows, leaves no process behind, and that the
properties that are not about speed hold (the monitor's counts are exact).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = ("requests", "book", "watcher", "startup", "monitor", "tap", "record")
"""What `python -m benchmarks` runs (`benchmarks/__main__.py`); start-up needs tmux."""


def names() -> list[str]:
    return [name for name in BENCHMARKS if name != "startup" or shutil.which("tmux")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", names())
def test_the_benchmark_runs_at_the_smoke_size(
    name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """One at a time (not side by side): seven at once starve the tests running beside them."""
    if name == "startup":
        request.getfixturevalue("default_ports")  # it runs bare `zmqtui`
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", name, "--out",
         str(tmp_path / f"{name}.json")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        output = proc.communicate(timeout=100)[0]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # it stops its own children, then exits
            proc.wait(timeout=30)
    assert proc.returncode == 0, output
    result = json.loads((tmp_path / f"{name}.json").read_text())
    assert result["machine"]["cores"] >= 1
    tables = result["benchmarks"][name]["tables"]
    assert tables and all(table["rows"] for table in tables), output
    assert "| " in output  # a Markdown table was printed
    assert_no_benchmark_process_left(tmp_path)
    if name == "monitor":
        for row in tables[0]["rows"]:
            assert row["counts"].startswith("exact"), row


def assert_no_benchmark_process_left(directory: Path) -> None:
    """Every process the runs started (they all inherit `directory` as their working
    directory: load generators, clusters and their workers, apps, tmux) is gone."""
    deadline = time.monotonic() + 10
    while True:
        leftovers = [proc.info for proc in psutil.process_iter(["pid", "cmdline", "cwd"])
                     if _inside(proc.info["cwd"], directory)]  # fmt: skip
        if not leftovers or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not leftovers, f"left running: {leftovers}"


def _inside(cwd: str | None, directory: Path) -> bool:
    return cwd is not None and Path(cwd).is_relative_to(directory)
