"""What every benchmark shares: run statistics, the machine header, child processes, tables.

Child processes are started fresh (never forked from a process holding a ZeroMQ context),
each in its own session, and stopped by PID: SIGTERM, a grace period, then SIGKILL for it and
every descendant still alive (psutil checks each is still the same process).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from zmqtui.services.stack import stop_process_tree

REPO = Path(__file__).resolve().parent.parent
"""The checkout the benchmarks run from (children import `benchmarks` from here)."""


# --- statistics -----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank `p`th percentile, None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass(frozen=True, slots=True)
class Summary:
    """One figure over several runs: the median, with the smallest and largest run."""

    median: float
    low: float
    high: float
    runs: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Summary | None:
        kept = tuple(v for v in values if v is not None)
        if not kept:
            return None
        return cls(statistics.median(kept), min(kept), max(kept), kept)

    def to_wire(self) -> dict[str, Any]:
        return {"median": self.median, "min": self.low, "max": self.high, "runs": list(self.runs)}


def figure(value: float, unit: str = "") -> str:
    """A number as a table shows it: thousands separated, a sensible number of digits."""
    if unit == "%":
        return f"{value:.0f} %"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".rstrip()


def cell(summary: Summary | None, unit: str = "") -> str:
    """`median (min-max)`, or the one value when there was a single run."""
    if summary is None:
        return "-"
    if len(summary.runs) == 1:
        return figure(summary.median, unit)
    low, high = figure(summary.low), figure(summary.high)
    return f"{figure(summary.median, unit)} ({low}-{high})"


# --- results --------------------------------------------------------------------------------


@dataclass(slots=True)
class Table:
    """One benchmark's results: rows of labelled cells plus targets and notes."""

    title: str
    columns: list[str]
    units: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    """Each row maps a column to a `Summary`, a plain value, or None."""
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, **cells: Any) -> None:
        self.rows.append(cells)

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "---|" * len(self.columns))
        for row in self.rows:
            shown = []
            for column in self.columns:
                value = row.get(column)
                if isinstance(value, Summary) or value is None:
                    shown.append(cell(value, self.units.get(column, "")))
                else:
                    shown.append(str(value))
            lines.append("| " + " | ".join(shown) + " |")
        if self.targets:
            lines.append("")
            lines.extend(f"- {target.line()}" for target in self.targets)
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines)

    def to_wire(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return value.to_wire() if isinstance(value, Summary) else value

        return {
            "title": self.title,
            "columns": self.columns,
            "units": self.units,
            "rows": [{k: plain(v) for k, v in row.items()} for row in self.rows],
            "targets": [target.to_wire() for target in self.targets],
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class Target:
    """A goal the issue sets and what this run measured for it (a goal, not an assertion)."""

    name: str
    goal: str
    measured: Summary | None
    met: bool | None
    unit: str = ""

    def line(self) -> str:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[self.met]
        return f"target: {self.name} {self.goal}: {cell(self.measured, self.unit)} — **{verdict}**"

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "goal": self.goal,
            "measured": None if self.measured is None else self.measured.to_wire(),
            "met": self.met,
        }


def target(
    name: str,
    measured: Summary | None,
    *,
    at_least: float | None = None,
    below: float | None = None,
    unit: str = "",
) -> Target:
    """A target met when the median is at least `at_least` or below `below`."""
    if at_least is not None:
        goal = f"≥ {figure(at_least, unit)}"
        met = None if measured is None else measured.median >= at_least
    else:
        assert below is not None
        goal = f"< {figure(below, unit)}"
        met = None if measured is None else measured.median < below
    return Target(name, goal, measured, met, unit)


# --- the machine ----------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str | None:
    if shutil.which("git") is None:
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return out.stdout.strip() or None


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, load, versions."""
    import zmq

    memory = psutil.virtual_memory()
    return {
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "memory_gb": round(memory.total / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "pyzmq": zmq.pyzmq_version(),
        "libzmq": zmq.zmq_version(),
        "textual": _version("textual"),
        "watchdog": _version("watchdog"),
        "zmqtui": _version("zmqtui"),
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def machine_header(info: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in info["load_average"])
    commit = f" (commit {info['commit']})" if info.get("commit") else ""
    return "\n".join(
        [
            f"Machine: {info['cores']} cores ({info['cpu']}), {info['memory_gb']} GB, "
            f"{info['system']}; load average at start {load}.",
            f"Versions: zmqtui {info['zmqtui']}{commit}, Python {info['python']}, "
            f"pyzmq {info['pyzmq']} (libzmq {info['libzmq']}), textual {info['textual']}, "
            f"watchdog {info['watchdog']}. {info['date']}.",
        ]
    )


# --- child processes ------------------------------------------------------------------------


class Child:
    """A child process whose output lines can be awaited with a deadline; stopped by PID."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: bool = False,
        output: Path | None = None,
    ) -> None:
        """`output`: a file for what the child prints (then `readline` and `expect` see
        nothing); by default it is read line by line."""
        self.argv = list(argv)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        child_env = {**os.environ, **(env or {})}
        child_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), child_env.get("PYTHONPATH", "")) if p
        )
        with contextlib.ExitStack() as files:
            stdout = files.enter_context(output.open("w")) if output else subprocess.PIPE
            self.process = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=child_env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
        if output is None:
            threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def readline(self, timeout: float) -> str:
        """The next output line; `RuntimeError` on timeout or when the child has exited."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"{self.argv[:4]}: no output within {timeout:.0f}s") from None
        if line is None:
            self.lines.put(None)
            tail = "\n".join(self.seen[-10:])
            raise RuntimeError(f"{self.argv[:4]} exited ({self.process.poll()}):\n{tail}")
        self.seen.append(line)
        return line

    def poll_line(self) -> str | None:
        """The next output line if one is waiting, else None (never blocks)."""
        try:
            return self.readline(timeout=0.001)
        except RuntimeError:
            if self.process.poll() is not None:
                raise
            return None

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """Wait for an output line matching `pattern` (other lines are kept in `seen`)."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"{self.argv[:4]}: no line like {pattern!r} in {timeout:.0f}s")
            match = regex.search(self.readline(remaining))
            if match:
                return match

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def finish(self, timeout: float = 10.0) -> None:
        """Close its stdin (its cue to end) and wait for it; `stop` after, whatever happened."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        self.stop()

    def stop(self, grace: float = 8.0) -> None:
        """SIGTERM, wait up to `grace` s, then SIGKILL it and any descendant left behind."""
        stop_process_tree(self.process, grace)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()


class Children:
    """Every child a benchmark starts; all stopped, newest first, when the block ends."""

    def __init__(self) -> None:
        self.started: list[Child] = []

    def start(self, argv: Sequence[str], **kwargs: Any) -> Child:
        child = Child(argv, **kwargs)
        self.started.append(child)
        return child

    def stop(self, child: Child, *, gently: bool = False) -> None:
        """Stop `child`; `gently`: first let it end by itself when its stdin closes."""
        if gently:
            child.finish()
        else:
            child.stop()
        with contextlib.suppress(ValueError):
            self.started.remove(child)

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc_info: object) -> None:
        while self.started:
            self.started.pop().stop()


def zmqtui_command() -> list[str]:
    """argv for the `zmqtui` console script a user runs (or `python -m zmqtui`)."""
    script = Path(sys.executable).parent / "zmqtui"
    return [str(script)] if script.exists() else [sys.executable, "-m", "zmqtui"]


def python(*args: str) -> list[str]:
    """argv for running this interpreter, e.g. `python("-m", "zmqtui", "serve")`."""
    return [sys.executable, *args]


@contextlib.contextmanager
def scratch_dir(prefix: str = "zmqtui-bench-") -> Iterator[Path]:
    """A private temp directory (short path: ipc:// paths hold 107 bytes), removed at the end."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class Tmux:
    """A tmux server of our own (private socket) running one app in one session.

    `stop` quits the app with `q`, ends the server, and kills by PID whatever of the app's
    process family outlived both: an app whose terminal went away does not always exit.
    """

    def __init__(self, socket_path: Path) -> None:
        self.socket = str(socket_path)
        self.server_pid: int | None = None
        self.app: psutil.Process | None = None
        self.family: list[psutil.Process] = []

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            ["tmux", "-S", self.socket, "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=check,
        )
        return out.stdout

    def start(self, command: str, cwd: Path, size: tuple[int, int]) -> psutil.Process:
        """Run `command` (prefix it with `exec`) in a new session; the pane's process."""
        width, height = size
        self.run(
            "new-session", "-d", "-s", "bench", "-x", str(width), "-y", str(height), "-c",
            str(cwd), command,
        )  # fmt: skip
        pids = self.run("display-message", "-p", "-t", "bench", "#{pid} #{pane_pid}").split()
        self.server_pid, pane_pid = int(pids[0]), int(pids[1])
        self.app = psutil.Process(pane_pid)
        return self.app

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "bench", check=False)

    def press(self, key: str) -> None:
        self.run("send-keys", "-t", "bench", key, check=False)

    def copy_output(self, path: Path) -> None:
        """Append everything the app writes to its terminal to `path`, as tmux receives it."""
        self.run("pipe-pane", "-O", "-t", "bench", "exec cat >> " + shlex.quote(str(path)))

    def remember_family(self) -> None:
        """Note the app's descendants (a stack it started) for `stop` to check on."""
        if self.app is not None:
            with contextlib.suppress(psutil.Error):
                self.family = [self.app, *self.app.children(recursive=True)]

    def stop(self) -> int:
        """Quit, end the server, kill what is left by PID; how many had to be killed."""
        if self.app is not None and not exited(self.app, 0):
            self.remember_family()
            self.press("q")
            exited(self.app, 10)
        self.run("kill-server", check=False)
        if self.server_pid is not None:
            with contextlib.suppress(psutil.Error):
                server = psutil.Process(self.server_pid)
                if "tmux" in server.name():
                    server.send_signal(signal.SIGKILL)
        killed = []
        for member in self.family or ([self.app] if self.app else []):
            with contextlib.suppress(psutil.Error):
                if member.is_running() and member.status() != psutil.STATUS_ZOMBIE:
                    member.kill()
                    killed.append(member)
        psutil.wait_procs(killed, timeout=2)
        return len(killed)


def exited(process: psutil.Process, timeout: float) -> bool:
    """Wait up to `timeout` s for `process` to exit; a zombie counts (its parent reaps it)."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        if time.perf_counter() >= deadline:
            return False
        time.sleep(0.005)
