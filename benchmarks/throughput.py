"""Requests: the single REP responder, the cluster, its ceiling, and one slow worker.

Everything a ratio compares is measured in the same round, back to back: the 2-worker cluster
at 64 in flight, the same broker and workers answering a constant (`bench_worker --answer
constant`: no disk, no JSON decode) and `zmqtui serve` with a sequential requester. The load
comes from separate processes (`benchmarks.loadgen`), whose own ceiling is measured first
against a ROUTER that libzmq echoes in C (`zmq.proxy_steerable` with one socket on both sides).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import zmq

from benchmarks.common import Child, Children, Summary, Table, percentile, python, target
from benchmarks.options import Options
from zmqtui.services import sockets

NAME = "requests"
SMALL_FILE = "small.txt"
SMALL_TEXT = "The quick brown fox jumps over the lazy dog.\n" * 4
PAYLOAD = json.dumps({"path": SMALL_FILE})
LARGE_FILE = "large.txt"
LARGE_TEXT = ("All work and no play makes Jack a dull boy.\n" * 1490)[: 64 * 1024]
"""64 KiB of text, the largest request a monitor's default limits let through whole."""
LISTENING = r"[Ll]istening for zmq requesters on (\S+)"
LOOPBACK_ANY = "tcp://127.0.0.1:0"
"""A free loopback port, picked at bind time; the services print the one they got."""


@dataclass(slots=True)
class Sizes:
    workers: tuple[int, ...]
    routings: tuple[str, ...]
    inflight: tuple[int, ...]
    headline_workers: int
    headline_inflight: int
    slow_routings: tuple[str, ...]
    slow_delay_ms: float
    slow_workers: int
    slow_inflight: int
    clients: int

    @classmethod
    def for_options(cls, options: Options) -> Sizes:
        if options.quick:  # every code path once: lb in the matrix, rr in the slow test
            return cls((1,), ("lb",), (4,), 1, 4, ("rr",), 5.0, 2, 4, options.clients)
        return cls(
            (1, 2, 4), ("lb", "rr"), (1, 8, 64), 2, 64, ("lb", "rr"), 10.0, 3, 8, options.clients
        )


# --- measuring ------------------------------------------------------------------------------


@dataclass(slots=True)
class Measurement:
    """What the load generators saw in one measured window."""

    rate: float
    latencies_us: list[int]
    errors: int
    lost: int
    stalled: bool
    replies: int
    """Every reply, the warm-up's and the drained ones too (what the server's CPU paid for)."""
    by_pid: dict[str, list[int]] = field(default_factory=dict)

    def p(self, q: float) -> float | None:
        value = percentile(self.latencies_us, q)
        return None if value is None else value / 1000


class LoadGenerators:
    """`clients` load generator processes driven together over their stdin/stdout."""

    def __init__(self, children: Children, clients: int) -> None:
        self.procs = [
            children.start(python("-m", "benchmarks.loadgen"), stdin=True) for _ in range(clients)
        ]
        for proc in self.procs:
            proc.expect(r'"ready"', timeout=30)

    def measure(
        self,
        endpoint: str,
        inflight: int,
        options: Options,
        *,
        by_pid: bool = False,
        payload: str = PAYLOAD,
    ) -> Measurement:
        used = self.procs[: max(1, min(len(self.procs), inflight))]
        shares = [inflight // len(used) + (i < inflight % len(used)) for i in range(len(used))]
        start_at = time.time() + options.warmup
        for proc, share in zip(used, shares, strict=True):
            command = {
                "endpoint": endpoint,
                "inflight": share,
                "start_at": start_at,
                "duration": options.duration,
                "payload": payload,
                "by_pid": by_pid,
                "timeout": 5.0,
            }
            proc.send(json.dumps(command))
        results = [
            json.loads(proc.readline(timeout=options.warmup + options.duration + 30))
            for proc in used
        ]
        by_pid_all: dict[str, list[int]] = {}
        for result in results:
            for pid, values in result["by_pid"].items():
                by_pid_all.setdefault(pid, []).extend(values)
        return Measurement(
            rate=sum(r["rate"] for r in results),
            latencies_us=[v for r in results for v in r["latencies_us"]],
            errors=sum(r["errors"] for r in results),
            lost=sum(r["lost"] for r in results),
            stalled=any(r["stalled"] for r in results),
            replies=sum(r["replies"] for r in results),
            by_pid=by_pid_all,
        )


@contextmanager
def router_echo() -> Iterator[str]:
    """A ROUTER on loopback that libzmq echoes in C; yields its endpoint."""
    ctx = zmq.Context()
    try:
        router = ctx.socket(zmq.ROUTER)
        sockets.configure(router, max_message_bytes=None)
        endpoint = sockets.bind(router, LOOPBACK_ANY)
        control = ctx.socket(zmq.PAIR)
        control.bind("inproc://echo-control")
        steer = ctx.socket(zmq.PAIR)
        steer.connect("inproc://echo-control")

        def echo() -> None:
            with suppress(zmq.ZMQError):
                zmq.proxy_steerable(router, router, None, control)

        thread = threading.Thread(target=echo, name="router-echo", daemon=True)
        thread.start()
        try:
            yield endpoint
        finally:
            steer.send(b"TERMINATE")
            thread.join(5)
    finally:
        ctx.destroy(linger=0)


# --- the services under test ----------------------------------------------------------------


def cpu_seconds(child: Child) -> float:
    """CPU time of a child and its children (a cluster: supervisor, broker thread, workers)."""
    total = 0.0
    try:
        root = psutil.Process(child.pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return total
    for proc in family:
        with suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def measure_with_cpu(
    generators: LoadGenerators,
    child: Child,
    endpoint: str,
    inflight: int,
    options: Options,
    *,
    payload: str = PAYLOAD,
) -> tuple[Measurement, float | None]:
    """A measurement, and the server's CPU microseconds per reply over it."""
    before = cpu_seconds(child)
    m = generators.measure(endpoint, inflight, options, payload=payload)
    spent = cpu_seconds(child) - before
    return m, (spent / m.replies * 1_000_000 if m.replies else None)


def start_serve(children: Children, root: Path) -> tuple[Child, str]:
    child = children.start(
        python("-m", "zmqtui", "serve", "--quiet", "--root", str(root), "--bind", LOOPBACK_ANY)
    )
    return child, child.expect(LISTENING).group(1)


@dataclass(slots=True)
class RunningCluster:
    child: Child
    endpoint: str
    control: str


def launch_cluster(
    children: Children,
    root: Path,
    scratch: Path,
    name: str,
    *,
    routing: str,
    workers: int,
    variant: list[str] | None = None,
) -> RunningCluster:
    """Start a cluster child: `zmqtui cluster` itself, or `bench_cluster` with a worker variant."""
    stats, control = f"ipc://{scratch}/{name}.stats", f"ipc://{scratch}/{name}.control"
    common = [
        "--root",
        str(root),
        "--workers",
        str(workers),
        "--routing",
        routing,
        "--bind",
        LOOPBACK_ANY,
        "--stats",
        stats,
        "--control",
        control,
    ]
    if variant is None:
        argv = python("-m", "zmqtui", "cluster", *common)
    else:
        argv = python("-m", "benchmarks.bench_cluster", *common, "--", *variant)
    return RunningCluster(children.start(argv), "", control)


def bound(clusters: list[RunningCluster]) -> None:
    """Wait for each launched cluster's `listening` line; started together, they boot at once."""
    for cluster in clusters:
        cluster.endpoint = cluster.child.expect(LISTENING).group(1)


def wait_until_ready(clusters: list[RunningCluster], workers: int, timeout: float = 60.0) -> None:
    """Poll each cluster's control endpoint until `workers` of its workers are ready."""
    ctx = zmq.Context()
    try:
        deadline = time.monotonic() + timeout
        for cluster in clusters:
            while True:
                states = cluster_states(ctx, cluster.control)
                if states.count("ready") >= workers:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cluster workers not ready within {timeout}s: {states}")
                time.sleep(0.1)
    finally:
        ctx.destroy(linger=0)


def cluster_states(ctx: zmq.Context, control: str) -> list[str]:
    sock = ctx.socket(zmq.REQ)
    sockets.configure(sock, max_message_bytes=None)
    try:
        sockets.connect(sock, control)
        sock.send(json.dumps({"cmd": "list"}).encode())
        if not sock.poll(2000, zmq.POLLIN):
            return []
        reply = json.loads(sock.recv())
    finally:
        sock.close(linger=0)
    return [worker.get("state", "") for worker in reply.get("workers", [])]


# --- the benchmark --------------------------------------------------------------------------


@dataclass(slots=True)
class Series:
    """Runs of one configuration."""

    rates: list[float] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p99: list[float | None] = field(default_factory=list)
    cpu_us: list[float | None] = field(default_factory=list)
    errors: int = 0
    lost: int = 0
    stalls: int = 0

    def add(self, m: Measurement, cpu_us: float | None = None) -> None:
        self.cpu_us.append(cpu_us)
        self.rates.append(m.rate)
        self.p50.append(m.p(50))
        self.p99.append(m.p(99))
        self.errors += m.errors
        self.lost += m.lost
        self.stalls += m.stalled

    def row(self, label: str, **extra: Any) -> dict[str, Any]:
        problems = []
        if self.errors:
            problems.append(f"{self.errors} error replies")
        if self.lost:
            problems.append(f"{self.lost} lost")
        if self.stalls:
            problems.append(f"{self.stalls} stalled runs")
        return {
            "configuration": label,
            "requests/s": Summary.of(self.rates),
            "p50": Summary.of(self.p50),
            "p99": Summary.of(self.p99),
            "server CPU per request": Summary.of(self.cpu_us),
            "notes": ", ".join(problems),
            **extra,
        }


def run(options: Options) -> list[Table]:
    sizes = Sizes.for_options(options)
    with Children() as children, options.scratch() as scratch:
        root = scratch / "root"
        root.mkdir()
        (root / SMALL_FILE).write_text(SMALL_TEXT)
        generators = LoadGenerators(children, sizes.clients)
        ceiling = measure_generator(generators, sizes, options)
        serve = start_serve(children, root)
        results, ratios = measure_clusters(
            children, generators, root, scratch, serve, sizes, options
        )
        children.stop(serve[0])
        slow = measure_slow_worker(children, generators, root, scratch, sizes, options)
    return [ceiling, results_table(results, ratios, sizes, options), slow]


def measure_generator(generators: LoadGenerators, sizes: Sizes, options: Options) -> Table:
    table = Table(
        f"Load generator ceiling ({sizes.clients} process(es), one DEALER each) against a "
        "ROUTER echoed by libzmq in C",
        ["in flight", "requests/s", "p50", "p99"],
        units={"p50": "ms", "p99": "ms"},
    )
    with router_echo() as endpoint:
        for inflight in sizes.inflight:
            series = Series()
            for _ in range(options.runs):
                series.add(generators.measure(endpoint, inflight, options))
            row = series.row(str(inflight))
            table.add(**{"in flight": str(inflight), **row})
    return table


def measure_clusters(
    children: Children,
    generators: LoadGenerators,
    root: Path,
    scratch: Path,
    serve: tuple[Child, str],
    sizes: Sizes,
    options: Options,
) -> tuple[dict[tuple[str, ...], Series], dict[str, dict[str, list[float]]]]:
    """Every cluster configuration, plus the headline ratios computed round by round."""
    results: dict[tuple[str, ...], Series] = {}
    ratios: dict[str, dict[str, list[float]]] = {}
    serve_series = results.setdefault(("serve",), Series())
    for workers in sizes.workers:
        for routing in sizes.routings:
            name = f"{routing}{workers}"
            clusters = {
                "file": launch_cluster(
                    children, root, scratch, f"{name}f", routing=routing, workers=workers
                ),
                "constant": launch_cluster(
                    children,
                    root,
                    scratch,
                    f"{name}c",
                    routing=routing,
                    workers=workers,
                    variant=["--answer", "constant", "--path", SMALL_FILE],
                ),
            }
            bound(list(clusters.values()))
            wait_until_ready(list(clusters.values()), workers)
            headline = workers == sizes.headline_workers
            for _ in range(options.runs):
                seq_rate = None
                if headline:
                    m, cpu = measure_with_cpu(generators, *serve, 1, options)
                    serve_series.add(m, cpu)
                    seq_rate = m.rate
                for inflight in sizes.inflight:
                    rate = {}
                    for kind, cluster in clusters.items():
                        m, cpu = measure_with_cpu(
                            generators, cluster.child, cluster.endpoint, inflight, options
                        )
                        key = (routing, str(workers), str(inflight), kind)
                        results.setdefault(key, Series()).add(m, cpu)
                        rate[kind] = m.rate
                    if headline and inflight == sizes.headline_inflight:
                        r = ratios.setdefault(routing, {"of_ceiling": [], "of_serve": []})
                        if rate["constant"]:
                            r["of_ceiling"].append(rate["file"] / rate["constant"])
                        if seq_rate:
                            r["of_serve"].append(rate["file"] / seq_rate)
            for cluster in clusters.values():
                children.stop(cluster.child)
    return results, ratios


def results_table(
    results: dict[tuple[str, ...], Series],
    ratios: dict[str, dict[str, list[float]]],
    sizes: Sizes,
    options: Options,
) -> Table:
    table = Table(
        "Request throughput and latency (loopback TCP, a 180-byte text file)",
        [
            "configuration",
            "requests/s",
            "p50",
            "p99",
            "server CPU per request",
            "ceiling requests/s",
            "of ceiling",
            "notes",
        ],
        units={"p50": "ms", "p99": "ms", "of ceiling": "x", "server CPU per request": "µs"},
    )
    table.add(**results[("serve",)].row("`zmqtui serve` (REP), sequential requester"))
    for routing in sizes.routings:
        for workers in sizes.workers:
            for inflight in sizes.inflight:
                key = (routing, str(workers), str(inflight))
                file, constant = results[(*key, "file")], results[(*key, "constant")]
                table.add(
                    **file.row(
                        f"cluster {routing}, {workers} worker(s), {inflight} in flight",
                        **{
                            "ceiling requests/s": Summary.of(constant.rates),
                            "of ceiling": Summary.of(
                                f / c for f, c in zip(file.rates, constant.rates, strict=True) if c
                            ),
                        },
                    )
                )
    w, n = sizes.headline_workers, sizes.headline_inflight
    for routing, r in ratios.items():
        table.targets.append(
            target(
                f"{routing}, {w} workers at {n} in flight vs the same broker+workers "
                "answering a constant",
                Summary.of(r["of_ceiling"]),
                at_least=0.5,
                unit="x",
            )
        )
        table.targets.append(
            target(
                f"{routing}, {w} workers at {n} in flight vs `zmqtui serve` with a sequential "
                "requester",
                Summary.of(r["of_serve"]),
                at_least=3.0,
                unit="x",
            )
        )
    table.notes.append(
        f"{options.runs} run(s) of {options.duration:g} s each after {options.warmup:g} s of "
        "warm-up; the ratios are taken run by run, each cluster figure against the ceiling and "
        "serve figures measured right before it."
    )
    table.notes.append(
        "ceiling: the same broker and worker processes, each worker answering a reply prepared "
        "at start (no file read, no JSON decode per request)."
    )
    table.notes.append(
        "server CPU per request: CPU time of the server's processes (supervisor with its broker "
        "thread, and workers; or `zmqtui serve --quiet`) over the measurement, per reply: less "
        "sensitive to the machine's load than the rates."
    )
    return table


def measure_slow_worker(
    children: Children,
    generators: LoadGenerators,
    root: Path,
    scratch: Path,
    sizes: Sizes,
    options: Options,
) -> Table:
    """Each routing mode with slot 0 sleeping on every request, and (full size) without."""
    delay = sizes.slow_delay_ms
    table = Table(
        f"One slow worker: {sizes.slow_workers} workers, slot 0 sleeps {delay:g} ms on every "
        f"request; {sizes.slow_inflight} in flight",
        [
            "cluster",
            "requests/s",
            "p50",
            "p99",
            "p99, other workers",
            "p99, slot 0",
            "slot 0's share",
            "notes",
        ],
        units={
            "p50": "ms",
            "p99": "ms",
            "p99, other workers": "ms",
            "p99, slot 0": "ms",
            "slot 0's share": "%",
        },
    )
    variant = ["--delay-ms", str(delay), "--slow-slots", "0"]
    kinds = (True,) if options.quick else (False, True)
    clusters = {
        (routing, slow): launch_cluster(
            children,
            root,
            scratch,
            f"{'slow' if slow else 'even'}-{routing}",
            routing=routing,
            workers=sizes.slow_workers,
            variant=variant if slow else None,
        )
        for routing in sizes.slow_routings
        for slow in kinds
    }
    bound(list(clusters.values()))
    wait_until_ready(list(clusters.values()), sizes.slow_workers)
    slot_zero = {key: slot_zero_pid(cluster.control) for key, cluster in clusters.items()}
    series = {key: SlotSeries() for key in clusters}
    for _ in range(options.runs):  # with and without the slow worker, side by side
        for key, cluster in clusters.items():
            m = generators.measure(cluster.endpoint, sizes.slow_inflight, options, by_pid=True)
            series[key].add(m, slot_zero[key])
    for (routing, slow), runs in series.items():
        label = f"{routing}, slot 0 slow" if slow else f"{routing}, no slow worker"
        table.add(**runs.row(label))
        if routing == "lb" and slow:
            table.targets.append(
                target(
                    "lb with a slow worker: p99 of the other workers' replies",
                    Summary.of(runs.others),
                    below=5.0,
                    unit="ms",
                )
            )
            even = series.get((routing, False))
            if even is not None:
                pushed = [
                    None if a is None or b is None else a - b
                    for a, b in zip(runs.others, even.others, strict=True)
                ]
                table.targets.append(
                    target(
                        "lb: how far the slow worker pushes that p99 (vs no slow worker, "
                        "run by run)",
                        Summary.of(pushed),
                        below=5.0,
                        unit="ms",
                    )
                )
    for cluster in clusters.values():
        children.stop(cluster.child)
    table.notes.append(
        "p99, other workers: the replies that did not come from slot 0; a request waits in "
        "the broker (lb) or in a worker's queue (rr) while the workers are busy, so with more "
        "requests in flight than workers that wait is part of every mode's latency."
    )
    return table


@dataclass(slots=True)
class SlotSeries(Series):
    """A `Series` that also splits latencies between slot 0 and the other workers."""

    others: list[float | None] = field(default_factory=list)
    slot_zero: list[float | None] = field(default_factory=list)
    share: list[float] = field(default_factory=list)

    def add(self, m: Measurement, slot_zero_pid: int | None = None) -> None:
        Series.add(self, m)
        mine = m.by_pid.get(str(slot_zero_pid), [])
        rest = [v for pid, vs in m.by_pid.items() if pid != str(slot_zero_pid) for v in vs]
        self.others.append(_ms(percentile(rest, 99)))
        self.slot_zero.append(_ms(percentile(mine, 99)))
        total = len(mine) + len(rest)
        self.share.append(100 * len(mine) / total if total else 0.0)

    def row(self, label: str, **extra: Any) -> dict[str, Any]:
        return Series.row(
            self,
            label,
            cluster=label,
            **{
                "p99, other workers": Summary.of(self.others),
                "p99, slot 0": Summary.of(self.slot_zero),
                "slot 0's share": Summary.of(self.share),
            },
            **extra,
        )


def _ms(micros: float | None) -> float | None:
    return None if micros is None else micros / 1000


def slot_zero_pid(control: str) -> int:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sockets.configure(sock, max_message_bytes=None)
    try:
        sockets.connect(sock, control)
        sock.send(json.dumps({"cmd": "list"}).encode())
        if not sock.poll(5000, zmq.POLLIN):
            raise RuntimeError("the cluster did not answer `list`")
        reply = json.loads(sock.recv())
    finally:
        sock.close(linger=0)
        ctx.destroy(linger=0)
    for worker in reply["workers"]:
        if worker["slot"] == 0:
            return int(worker["pid"])
    raise RuntimeError("no worker in slot 0")
