"""Ours against the book's Node.js scripts, and lb against rr, side by side in one run.

Every run measures, back to back and against the same files: `zmqtui serve` and the book's
`zmq-filer-rep.js` with a sequential requester; `zmqtui cluster` (lb and rr, 2 workers) and the
book's `zmq-filer-rep-cluster.js` (2 workers) at 64 in flight; each for a small file and for a
64 KiB one. The ratios are taken run by run, so a busy machine slows both sides of each alike.
Without Node.js (or its zeromq) the book's rows are left out and their targets not measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import book
from benchmarks.common import Child, Children, Summary, Table, cell, target
from benchmarks.options import Options
from benchmarks.throughput import (
    LARGE_FILE,
    LARGE_TEXT,
    SMALL_FILE,
    SMALL_TEXT,
    LoadGenerators,
    Series,
    bound,
    launch_cluster,
    measure_with_cpu,
    start_serve,
    wait_until_ready,
)

NAME = "book"
WORKERS = 2
INFLIGHT = 64
HEADLINE = f"{WORKERS} workers, {INFLIGHT} in flight"
FILES = {"small": SMALL_FILE, "64 KiB": LARGE_FILE}
SERVE = "`zmqtui serve`, sequential"
SERVE_LOADED = f"`zmqtui serve`, {INFLIGHT} in flight"
BOOK_REP = "book's `zmq-filer-rep.js`, sequential"
BOOK_CLUSTER = f"book's `zmq-filer-rep-cluster.js`, {HEADLINE}"


def cluster_label(routing: str) -> str:
    return f"`zmqtui cluster` {routing}, {HEADLINE}"


@dataclass(slots=True)
class Server:
    label: str
    child: Child
    endpoint: str
    inflight: int


@dataclass(slots=True)
class Ratios:
    """Ratios taken run by run, by name."""

    runs: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, numerator: float | None, denominator: float | None) -> None:
        if numerator and denominator:
            self.runs.setdefault(name, []).append(numerator / denominator)

    def summary(self, name: str) -> Summary | None:
        return Summary.of(self.runs.get(name, []))


def run(options: Options) -> list[Table]:
    why_not = book.unavailable()
    with Children() as children, options.scratch() as scratch:
        root = scratch / "root"
        root.mkdir()
        (root / SMALL_FILE).write_text(SMALL_TEXT)
        (root / LARGE_FILE).write_text(LARGE_TEXT)
        generators = LoadGenerators(children, options.clients)
        servers = start_servers(children, root, scratch, with_book=why_not is None)
        series, ratios = measure(generators, servers, options)
    return [table(servers, series, ratios, options, why_not)]


def start_servers(
    children: Children, root: Path, scratch: Path, *, with_book: bool
) -> list[Server]:
    serve_child, serve_endpoint = start_serve(children, root)
    clusters = {
        routing: launch_cluster(
            children, root, scratch, f"vs-{routing}", routing=routing, workers=WORKERS
        )
        for routing in ("lb", "rr")
    }
    bound(list(clusters.values()))
    wait_until_ready(list(clusters.values()), WORKERS)
    servers = [
        Server(SERVE, serve_child, serve_endpoint, 1),
        Server(SERVE_LOADED, serve_child, serve_endpoint, INFLIGHT),
    ]
    if with_book:
        servers.append(Server(BOOK_REP, *book.start_rep(children, root, scratch, SMALL_FILE), 1))
    for routing, cluster in clusters.items():
        servers.append(Server(cluster_label(routing), cluster.child, cluster.endpoint, INFLIGHT))
    if with_book:
        node_cluster = book.start_cluster(children, root, scratch, WORKERS, SMALL_FILE)
        servers.append(Server(BOOK_CLUSTER, *node_cluster, INFLIGHT))
    return servers


def measure(
    generators: LoadGenerators, servers: list[Server], options: Options
) -> tuple[dict[tuple[str, str], Series], Ratios]:
    series: dict[tuple[str, str], Series] = {}
    ratios = Ratios()
    for _ in range(options.runs):
        rates: dict[tuple[str, str], float] = {}
        for kind, path in FILES.items():
            payload = json.dumps({"path": path})
            for server in servers:
                m, cpu = measure_with_cpu(
                    generators,
                    server.child,
                    server.endpoint,
                    server.inflight,
                    options,
                    payload=payload,
                )
                series.setdefault((server.label, kind), Series()).add(m, cpu)
                rates[(server.label, kind)] = m.rate
        for kind in FILES:
            ratios.add(
                f"serve/rep {kind}",
                rates.get((SERVE, kind)),
                rates.get((BOOK_REP, kind)),
            )
            for routing in ("lb", "rr"):
                ratios.add(
                    f"{routing}/node cluster {kind}",
                    rates.get((cluster_label(routing), kind)),
                    rates.get((BOOK_CLUSTER, kind)),
                )
            ratios.add(
                f"lb/rr {kind}",
                rates.get((cluster_label("lb"), kind)),
                rates.get((cluster_label("rr"), kind)),
            )
    return series, ratios


def table(
    servers: list[Server],
    series: dict[tuple[str, str], Series],
    ratios: Ratios,
    options: Options,
    why_not: str | None,
) -> Table:
    result = Table(
        "Against the book's Node.js scripts, and lb against rr (loopback TCP, side by side)",
        ["configuration", "file", "requests/s", "p50", "p99", "server CPU per request", "notes"],
        units={"p50": "ms", "p99": "ms", "server CPU per request": "µs"},
    )
    for kind in FILES:
        for server in servers:
            result.add(**series[(server.label, kind)].row(server.label), file=kind)
    lines = []
    for kind in FILES:
        lines.append(
            f"serve / book's REP, {kind} file: {cell(ratios.summary(f'serve/rep {kind}'), 'x')}"
        )
        for routing in ("lb", "rr"):
            lines.append(
                f"{routing} / book's cluster, {kind} file: "
                f"{cell(ratios.summary(f'{routing}/node cluster {kind}'), 'x')}"
            )
        lines.append(f"lb / rr, {kind} file: {cell(ratios.summary(f'lb/rr {kind}'), 'x')}")
    result.notes.append("ratios, run by run (median, min-max): " + "; ".join(lines) + ".")
    result.targets.append(
        target(
            "`zmqtui serve` sequential vs the book's REP, small file",
            ratios.summary("serve/rep small"),
            at_least=2.0,
            unit="x",
        )
    )
    result.targets.append(
        target(
            f"`zmqtui cluster` (lb, {HEADLINE}) vs the book's cluster, small file",
            ratios.summary("lb/node cluster small"),
            at_least=4.0,
            unit="x",
        )
    )
    result.targets.append(
        target(
            f"lb vs rr ({HEADLINE}), small file",
            ratios.summary("lb/rr small"),
            at_least=0.9,
            unit="x",
        )
    )
    lb = series.get((cluster_label("lb"), "small"))
    result.targets.append(
        target(
            f"server CPU per request, lb, {HEADLINE}, small file",
            Summary.of(lb.cpu_us) if lb else None,
            below=80.0,
            unit="µs",
        )
    )
    if why_not:
        result.notes.append(f"the book's scripts did not run: {why_not}.")
    result.notes.append(
        f"{options.runs} run(s) of {options.duration:g} s each after {options.warmup:g} s of "
        "warm-up. The book's scripts log two lines per request, as the book wrote them; their "
        "output goes to a file. server CPU per request: all the server's processes (for the "
        "book's cluster, the master and its forked workers)."
    )
    return result
