"""Watcher latency: from a write to a subscriber holding the change event.

`zmqtui watch` runs as a child watching a handful of files (named one by one, like the book's
`target.txt`); this process writes them in turn and waits on a SUB socket for each write's
event. Each file is written again only after its coalescing window has closed, so every write
may give its own "first event at once". Three phases on the same files: in-place writes, atomic
saves (a temp file renamed over the file), and in-place writes again after those saves — the
book's `fs.watch` loses a file at its first atomic save.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from benchmarks.common import Children, Summary, Table, percentile, python, target
from benchmarks.options import Options
from zmqtui.services import sockets

NAME = "watcher"
FILES = 6
EVENT_TIMEOUT_S = 1.0
"""A write with no event within this long counts as unseen."""


@dataclass(slots=True)
class Phase:
    """One kind of write, over every run."""

    label: str
    p50: list[float | None] = field(default_factory=list)
    p99: list[float | None] = field(default_factory=list)
    writes: int = 0
    seen: int = 0
    events: int = 0


def run(options: Options) -> list[Table]:
    writes_per_phase = 6 if options.quick else 60
    interval = 0.03 if options.quick else 0.05
    phases = [
        Phase("in-place write"),
        Phase("atomic save (temp file renamed over)"),
        Phase("in-place write after atomic saves"),
    ]
    with Children() as children, options.scratch() as scratch:
        files = [scratch / f"target{i}.txt" for i in range(FILES)]
        for path in files:
            path.write_text("start\n")
        watcher = children.start(
            python("-m", "zmqtui", "watch", *map(str, files), "--bind", "tcp://127.0.0.1:0")
        )
        endpoint = watcher.expect(r"Listening for zmq subscribers on (\S+)").group(1)
        ctx = zmq.Context()
        try:
            sub = ctx.socket(zmq.SUB)
            sockets.configure(sub)
            sockets.connect(sub, endpoint)
            sub.subscribe(b"")
            handshake(sub, files[0])
            for _ in range(options.runs):
                for phase, atomic in zip(phases, (False, True, False), strict=True):
                    settle(sub)
                    measure_phase(sub, files, phase, atomic, writes_per_phase, interval)
            sub.close(linger=0)
        finally:
            ctx.destroy(linger=0)
    table = Table(
        f"Watcher latency: write -> event on a SUB socket ({FILES} watched files, "
        "default 100 ms coalescing)",
        ["write", "p50", "p99", "writes seen", "events per write"],
        units={"p50": "ms", "p99": "ms"},
    )
    for phase in phases:
        table.add(
            write=phase.label,
            p50=Summary.of(phase.p50),
            p99=Summary.of(phase.p99),
            **{
                "writes seen": f"{phase.seen} of {phase.writes}",
                "events per write": f"{phase.events / max(1, phase.writes):.2f}",
            },
        )
    table.targets.append(
        target("in-place write p50", Summary.of(phases[0].p50), below=5.0, unit="ms")
    )
    after = phases[2]
    table.targets.append(
        target(
            "writes after atomic saves seen",
            Summary.of([after.seen / max(1, after.writes) * 100]),
            at_least=100.0,
            unit="%",
        )
    )
    table.notes.append(
        f"{options.runs} run(s) of {writes_per_phase} writes per kind, one every "
        f"{interval * 1000:.0f} ms (each file every {FILES * interval * 1000:.0f} ms); latency "
        "from just before the write to the first event naming the file; a write counts as seen "
        f"when that event arrives within {EVENT_TIMEOUT_S:g} s. Extra events are the trailing "
        "event of a coalescing window (the open-truncate and the write are two changes)."
    )
    return [table]


def handshake(sub: zmq.Socket, probe: Path, timeout: float = 10.0) -> None:
    """Write until an event arrives: a SUB misses everything until it has joined."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe.write_text("probe\n")
        if sub.poll(200, zmq.POLLIN):
            settle(sub)
            return
    raise RuntimeError("the watcher published nothing within 10 s")


def settle(sub: zmq.Socket, quiet: float = 0.25) -> None:
    """Swallow events until none has arrived for `quiet` seconds (trailing windows closed)."""
    while sub.poll(int(quiet * 1000), zmq.POLLIN):
        sub.recv_multipart()


def measure_phase(
    sub: zmq.Socket,
    files: list[Path],
    phase: Phase,
    atomic: bool,
    writes: int,
    interval: float,
) -> None:
    latencies: list[float] = []
    events = 0
    for n in range(writes):
        path = files[n % len(files)]
        next_write = time.perf_counter() + interval
        began = time.perf_counter()
        write(path, f"write {n}\n", atomic)
        seen, arrived = wait_for_event(sub, str(path), began + EVENT_TIMEOUT_S)
        events += arrived
        phase.writes += 1
        if seen is not None:
            phase.seen += 1
            latencies.append((seen - began) * 1000)
        while (remaining := next_write - time.perf_counter()) > 0:
            if sub.poll(max(1, int(remaining * 1000)), zmq.POLLIN):
                sub.recv_multipart()
                events += 1
    while sub.poll(300, zmq.POLLIN):  # the last windows' trailing events
        sub.recv_multipart()
        events += 1
    phase.events += events
    phase.p50.append(percentile(latencies, 50))
    phase.p99.append(percentile(latencies, 99))


def write(path: Path, text: str, atomic: bool) -> None:
    if not atomic:
        with open(path, "w") as out:
            out.write(text)
        return
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w") as out:
        out.write(text)
    os.replace(temp, path)


def wait_for_event(sub: zmq.Socket, name: str, deadline: float) -> tuple[float | None, int]:
    """When the first event naming `name` arrived (None: not by `deadline`), and events seen."""
    arrived = 0
    while (remaining := deadline - time.perf_counter()) > 0:
        if not sub.poll(max(1, int(remaining * 1000)), zmq.POLLIN):
            break
        frames = sub.recv_multipart()
        now = time.perf_counter()
        arrived += 1
        try:
            event = json.loads(frames[-1])
        except ValueError:
            continue
        if event.get("file") == name:
            return now, arrived
    return None, arrived
