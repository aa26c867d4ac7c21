"""What `zmqtui tap` costs: the same load at 64 in flight with and without the tap in front.

Two services: a ROUTER echoed by libzmq in C (what the tap alone adds, nothing else in the
way) and `zmqtui serve` (a real service). Each run measures, back to back, each service
directly and through its tap; the tap prints every pair to a file, as `zmqtui tap > pairs.log`
would, so its capture side is paid for too. `zmqtui serve` is measured through a bare libzmq
proxy as well (`benchmarks.bare_proxy`: no capture): the floor any extra hop sets on this
machine. What each adds to p50 and p99 is taken run by run, so a busy machine slows both sides
of each alike.
"""

from __future__ import annotations

import re
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks.common import Child, Children, Summary, Table, cell, python, target
from benchmarks.options import Options
from benchmarks.throughput import (
    LOOPBACK_ANY,
    SMALL_FILE,
    SMALL_TEXT,
    LoadGenerators,
    Measurement,
    Series,
    measure_with_cpu,
    router_echo,
    start_serve,
)

NAME = "tap"
INFLIGHT = 64
TAPPING = re.compile(r"Tapping clients on (\S+),")
SERVICES = ("C echo", "`zmqtui serve`")
BARE = "`zmqtui serve` (bare proxy)"
"""`zmqtui serve` through a bare libzmq proxy, in the added-latency notes."""


def run(options: Options) -> list[Table]:
    with Children() as children, options.scratch() as scratch, ExitStack() as stack:
        root = scratch / "root"
        root.mkdir()
        (root / SMALL_FILE).write_text(SMALL_TEXT)
        generators = LoadGenerators(children, options.clients)
        direct = {
            "C echo": stack.enter_context(router_echo()),
            "`zmqtui serve`": start_serve(children, root)[1],
        }
        taps = {
            name: start_tap(children, endpoint, scratch / f"tap-{n}.log")
            for n, (name, endpoint) in enumerate(direct.items())
        }
        bare = children.start(python("-m", "benchmarks.bare_proxy", direct["`zmqtui serve`"]))
        bare_endpoint = bare.expect(r"Proxying on (\S+)").group(1)
        series: dict[str, Series] = {}
        added: dict[str, list[float]] = {}
        for _ in range(options.runs):
            for name in SERVICES:
                plain = generators.measure(direct[name], INFLIGHT, options)
                tapped, cpu_us = measure_with_cpu(
                    generators, taps[name][0], taps[name][1], INFLIGHT, options
                )
                series.setdefault(f"{name}, direct", Series()).add(plain)
                series.setdefault(f"{name}, through the tap", Series()).add(tapped, cpu_us)
                add_latency(added, name, plain, tapped)
                if name == "`zmqtui serve`":
                    hop, hop_cpu_us = measure_with_cpu(
                        generators, bare, bare_endpoint, INFLIGHT, options
                    )
                    series.setdefault(f"{name}, through a bare libzmq proxy", Series()).add(
                        hop, hop_cpu_us
                    )
                    add_latency(added, BARE, plain, hop)
    return [table(series, added, options)]


def add_latency(
    added: dict[str, list[float]], name: str, plain: Measurement, through: Measurement
) -> None:
    """What going `through` a proxy added to p50 and p99, in µs, against `plain`."""
    for q in (50, 99):
        before, after = plain.p(q), through.p(q)
        if before is not None and after is not None:
            added.setdefault(f"{name} p{q}", []).append((after - before) * 1000)


def start_tap(children: Children, forward: str, log: Path) -> tuple[Child, str]:
    """A `zmqtui tap` in front of `forward`, printing its pairs to `log`; its endpoint."""
    child = children.start(
        python("-m", "zmqtui", "tap", "--listen", LOOPBACK_ANY, "--forward", forward),
        output=log,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        match = TAPPING.search(log.read_text()) if log.exists() else None
        if match:
            return child, match.group(1)
        if child.process.poll() is not None:
            raise RuntimeError(f"zmqtui tap exited: {log.read_text()[-500:]}")
        time.sleep(0.05)
    raise RuntimeError("zmqtui tap did not start within 30 s")


def table(series: dict[str, Series], added: dict[str, list[float]], options: Options) -> Table:
    result = Table(
        f"The tap's cost: {INFLIGHT} in flight with and without `zmqtui tap` (loopback TCP)",
        ["configuration", "requests/s", "p50", "p99", "tap CPU per request", "notes"],
        units={"p50": "ms", "p99": "ms", "tap CPU per request": "µs"},
    )
    for label, runs in series.items():
        row = runs.row(label)
        row["tap CPU per request"] = row.pop("server CPU per request")
        result.add(**row)
    lines = [
        f"{name} p{q}: {cell(Summary.of(added.get(f'{name} p{q}', [])), 'µs')}"
        for name in (*SERVICES, BARE)
        for q in (50, 99)
    ]
    result.notes.append(
        "added by the tap (and by a bare libzmq proxy), run by run (median, min-max): "
        + "; ".join(lines)
    )
    result.targets.append(
        target(
            f"latency the tap adds at p50, {INFLIGHT} in flight, `zmqtui serve`",
            Summary.of(added.get("`zmqtui serve` p50", [])),
            below=300.0,
            unit="µs",
        )
    )
    result.notes.append(
        f"{options.runs} run(s) of {options.duration:g} s each after {options.warmup:g} s of "
        "warm-up; the tap writes a line per pair to a file. tap CPU per request: the tap "
        "process's CPU (proxy thread and printing) over the replies of its window; for the "
        "bare proxy, its process's."
    )
    return result
