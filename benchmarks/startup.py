"""Start-up: from running bare `zmqtui` to its first full screen, and to the stack being up.

Each run starts `zmqtui` in a fresh directory inside a detached tmux session on a private
server socket, and polls `tmux capture-pane` for what a user would see: the first paint (every
pane's frame), the full screen (the footer's keys, which Textual fills in a frame or two later),
then the embedded stack up (every socket connected, the workers pane showing all workers
ready). Then it presses `q` and times the exit, which stops the stack, too.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from pathlib import Path

from benchmarks.common import Summary, Table, Tmux, exited, target, zmqtui_command
from benchmarks.options import Options

NAME = "startup"
SIZE = (160, 45)
POLL_S = 0.01
PANES = ("1 Publisher", "2 Subscriber", "3 Requests", "4 Workers")
CONNECTED = ("pub bound", "sub connected", "req connected", "stats connected", "control connected")
MOMENTS = {
    "first paint (the four panes and the connection bar)": (*PANES, "embedded stack on"),
    "full screen (the footer's keys too)": (*PANES, "embedded stack on", "q Quit"),
    "stack up (every socket connected, all workers ready)": (*PANES, *CONNECTED),
}
"""What the screen must show at each moment (stack up also needs "N ready")."""
FULL_SCREEN = "full screen (the footer's keys too)"


def run(options: Options) -> list[Table]:
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is not installed")
    workers = os.cpu_count() or 1
    seen: dict[str, list[float | None]] = {moment: [] for moment in MOMENTS}
    quits: list[float | None] = []
    problems: list[str] = []
    for _ in range(options.runs):
        with options.scratch() as scratch:
            moments, gone, problem = one_start(scratch, workers, 20.0 if options.quick else 30.0)
        for moment, values in seen.items():
            values.append(moments.get(moment))
        quits.append(gone)
        if problem:
            problems.append(problem)
    table = Table(
        f"Start-up of bare `zmqtui` in tmux ({SIZE[0]}x{SIZE[1]}), embedded stack with "
        f"{workers} workers",
        ["moment", "seconds"],
        units={"seconds": "s"},
    )
    for moment, values in seen.items():
        table.add(moment=moment, seconds=Summary.of(values))
    table.add(moment="`q` to the process gone (the stack stopped)", seconds=Summary.of(quits))
    table.targets.append(target("full screen", Summary.of(seen[FULL_SCREEN]), below=1.5, unit="s"))
    table.notes.append(
        f"{options.runs} run(s); from just before `tmux new-session` to the first "
        f"`capture-pane` (polled every {POLL_S * 1000:.0f} ms) showing it."
    )
    table.notes.extend(problems)
    return [table]


def one_start(
    scratch: Path, workers: int, timeout: float
) -> tuple[dict[str, float], float | None, str | None]:
    """One start in tmux: when each moment was first on screen, and how long `q` took."""
    work = scratch / "served"
    work.mkdir()
    (work / "hello.txt").write_text("hello\n")
    tmux = Tmux(scratch / "tmux.sock")
    moments: dict[str, float] = {}
    gone = problem = None
    try:
        began = time.perf_counter()
        app = tmux.start("exec " + shlex.join(zmqtui_command()), work, SIZE)
        deadline = began + timeout
        while time.perf_counter() < deadline and len(moments) < len(MOMENTS):
            screen = tmux.screen()
            now = time.perf_counter() - began
            for moment, marks in MOMENTS.items():
                if moment not in moments and all(mark in screen for mark in marks):
                    if moment.startswith("stack up") and f"{workers} ready" not in screen:
                        continue
                    moments[moment] = now
            time.sleep(POLL_S)
        if len(moments) < len(MOMENTS):
            problem = "the stack was not up in time; last screen:\n\n" + indent(tmux.screen())
        tmux.remember_family()
        pressed = time.perf_counter()
        tmux.press("q")
        if exited(app, timeout=10):
            gone = time.perf_counter() - pressed
    finally:
        leftovers = tmux.stop()
        if leftovers:
            problem = (problem or "") + f" {leftovers} process(es) left after quitting"
    return moments, gone, problem


def indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())
