"""Start-up: from running bare `zmqtui` to its first full screen, and to the stack being up.

Each run starts `zmqtui` in a fresh directory inside a detached tmux session on a private
server socket, and polls `tmux capture-pane` for what a user would see: the screen is drawn
(every pane's title and the footer), then the embedded stack is up (every socket connected and
the workers pane showing all workers ready). Then it presses `q` and times the exit too.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import time
from pathlib import Path

import psutil

from benchmarks.common import Summary, Table, Tmux, target, zmqtui_command
from benchmarks.options import Options

NAME = "startup"
SIZE = (160, 45)
POLL_S = 0.01
DRAWN = ("1 Publisher", "2 Subscriber", "3 Requests", "4 Workers", "q Quit")
CONNECTED = ("pub bound", "sub connected", "req connected", "stats connected", "control connected")


def run(options: Options) -> list[Table]:
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is not installed")
    workers = os.cpu_count() or 1
    drawn: list[float | None] = []
    ready: list[float | None] = []
    quits: list[float | None] = []
    problems: list[str] = []
    for _ in range(options.runs):
        with options.scratch() as scratch:
            d, r, q, problem = one_start(scratch, workers, timeout=20.0 if options.quick else 30.0)
        drawn.append(d)
        ready.append(r)
        quits.append(q)
        if problem:
            problems.append(problem)
    table = Table(
        f"Start-up of bare `zmqtui` in tmux ({SIZE[0]}x{SIZE[1]}), embedded stack with "
        f"{workers} workers",
        ["moment", "seconds"],
        units={"seconds": "s"},
    )
    table.add(
        moment="first full screen (every pane and the footer drawn)", seconds=Summary.of(drawn)
    )
    table.add(
        moment="stack up (every socket connected, all workers ready)", seconds=Summary.of(ready)
    )
    table.add(moment="`q` to the process gone", seconds=Summary.of(quits))
    table.targets.append(target("first full screen", Summary.of(drawn), below=1.5, unit="s"))
    table.notes.append(
        f"{options.runs} run(s); from just before `tmux new-session` to the first "
        f"`capture-pane` (polled every {POLL_S * 1000:.0f} ms) showing it."
    )
    table.notes.extend(problems)
    return [table]


def one_start(
    scratch: Path, workers: int, timeout: float
) -> tuple[float | None, float | None, float | None, str | None]:
    work = scratch / "served"
    work.mkdir()
    (work / "hello.txt").write_text("hello\n")
    tmux = Tmux(scratch / "tmux.sock")
    drawn = ready = gone = None
    problem = None
    app: psutil.Process | None = None
    family: list[psutil.Process] = []
    try:
        began = time.perf_counter()
        tmux.start("exec " + shlex.join(zmqtui_command()), work, SIZE)
        pid = tmux.pane_pid()
        with contextlib.suppress(psutil.Error):
            app = psutil.Process(pid) if pid else None
        deadline = began + timeout
        while time.perf_counter() < deadline and ready is None:
            screen = tmux.screen()
            now = time.perf_counter() - began
            if drawn is None and all(mark in screen for mark in DRAWN):
                drawn = now
            if (
                drawn is not None
                and all(mark in screen for mark in CONNECTED)
                and f"{workers} ready" in screen
            ):
                ready = now
            time.sleep(POLL_S)
        if ready is None:
            problem = "stack not up in time; last screen:\n\n" + indent(tmux.screen())
        if app is not None:
            with contextlib.suppress(psutil.Error):
                family = [app, *app.children(recursive=True)]
        pressed = time.perf_counter()
        tmux.run("send-keys", "-t", "bench", "q", check=False)
        if app is not None:
            with contextlib.suppress(psutil.TimeoutExpired, psutil.Error):
                app.wait(timeout=10)
                gone = time.perf_counter() - pressed
    finally:
        tmux.stop()
        leftovers = []
        for member in family:
            with contextlib.suppress(psutil.Error):
                if member.is_running() and member.status() != psutil.STATUS_ZOMBIE:
                    member.kill()
                    leftovers.append(member)
        if leftovers:
            problem = (problem or "") + f" {len(leftovers)} process(es) left after quitting"
    return drawn, ready, gone, problem


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())
