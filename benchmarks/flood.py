"""The monitor under a flood: a publisher process floods the running app (headless).

A publisher child (`benchmarks.flood_publisher`) sends change events as fast as it can, then at
10k and at 100k messages/s, each for a bounded time, into the real app attached to it
(`benchmarks.flood_app`, `ZmqtuiApp` in `run_test` in a child of its own); then another
publisher sends an ordinary market feed's multipart msgpack messages at 100k messages/s over
two feeds at once into an app attached to both (`zmqtui --sub A --sub B`). Reported per
phase: what the app took in, key press to screen latency during the flood, frames per second,
resident memory before and after, the app's CPU time per message, and whether the counts are
exact (the subscriber pane's count equals what the bridge delivered to it). What was sent and
never delivered was dropped at a high-water mark, as PUB/SUB does for a slow subscriber; the
pane shows it as `seq` gaps.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from benchmarks.common import (
    Child,
    Children,
    Summary,
    Table,
    Tmux,
    percentile,
    python,
    target,
    zmqtui_command,
)
from benchmarks.options import Options

NAME = "monitor"
MB = 1024 * 1024


@dataclass(slots=True)
class Phase:
    label: str
    rate: int
    """Messages per second; 0: as fast as the publisher can."""
    duration: float
    kind: str = "event"
    """What the publisher sends: the book's change events, or multipart `msgpack` quotes."""
    sent_rate: list[float] = field(default_factory=list)
    intake: list[float] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p99: list[float | None] = field(default_factory=list)
    handled_p50: list[float | None] = field(default_factory=list)
    handled_p99: list[float | None] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
    rss_before: list[float] = field(default_factory=list)
    rss_after: list[float] = field(default_factory=list)
    growth: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    """The screen process's CPU time per message taken in: what a loaded machine does not
    change."""
    screen_cpu: list[float] = field(default_factory=list)
    """The screen process's CPU, % of a core over the phase."""
    ingest_cpu: list[float] = field(default_factory=list)
    """The ingest child's CPU, % of a core over the phase."""
    sent: int = 0
    lost: int = 0
    inexact: int = 0
    keys: int = 0
    unanswered: int = 0


def phases(options: Options) -> list[Phase]:
    if options.quick:
        return [Phase("10k msg/s", 10_000, 0.3), Phase("100k msg/s", 100_000, 0.3)]
    return [
        Phase("as fast as it can", 0, 3.0),
        Phase("10k msg/s", 10_000, 3.0),
        Phase("100k msg/s (1M messages)", 100_000, 10.0),
    ]


FEEDS = 2
"""Feeds of the multipart msgpack phase, published to at the same time."""


def feeds_phase(options: Options) -> Phase:
    label = f"multipart msgpack on {FEEDS} feeds, 100k msg/s in all"
    if options.quick:
        return Phase(label, 100_000, 0.3, kind="msgpack")
    return Phase(f"{label} (1M messages)", 100_000, 10.0, kind="msgpack")


def run(options: Options) -> list[Table]:
    plan = phases(options)
    several = [feeds_phase(options)]
    with Children() as children:
        publisher, app, ready = attach(children, 1, options)
        for _ in range(options.runs):
            for phase in plan:
                measure(app, publisher, phase)
        children.stop(app, gently=True)
        tables = [report(plan, ready["rss"], options)]
        feeds_publisher, app, ready = attach(children, FEEDS, options)
        for _ in range(options.runs):
            measure(app, feeds_publisher, several[0])
        children.stop(app, gently=True)
        title = f"The monitor under a flood on {FEEDS} feeds at once (headless, `--sub` x{FEEDS})"
        table = report(several, ready["rss"], options, title=title)
        table.notes.append(
            f"{FEEDS} feeds, one SUB socket each in the ingest child; the publisher deals its "
            f"messages to the feeds in turn ({100 // FEEDS}k msg/s each): multipart "
            "`[md.SYMn, msgpack {sym, bid, ask, size, seq, ts}]` on 8 topics, `seq` per feed "
            "and topic; the topics view counts each."
        )
        tables.append(table)
        if shutil.which("tmux"):
            tables.append(in_tmux(publisher, plan[-1:] if options.quick else plan, options))
            if not options.quick:
                tables.append(in_tmux(feeds_publisher, several, options))
    return tables


def attach(children: Children, feeds: int, options: Options) -> tuple[Child, Child, dict]:
    """A publisher of `feeds` feeds, and the headless app attached to all of them, subscribed."""
    publisher = children.start(
        python("-m", "benchmarks.flood_publisher", "--feeds", str(feeds)), stdin=True
    )
    endpoints = json.loads(publisher.expect(r'"endpoint"').string)["endpoints"]
    settle = "0.2" if options.quick else "1.5"  # past the app's start-up collection
    subs = [argument for endpoint in endpoints for argument in ("--sub", endpoint)]
    app = children.start(
        python("-m", "benchmarks.flood_app", *subs, "--settle", settle), stdin=True
    )
    ready = json.loads(app.expect(r'"ready"', timeout=60).string)
    publisher.send(json.dumps({"cmd": "wait_subscriber", "count": 1}))
    if not json.loads(publisher.readline(timeout=40))["subscribed"]:
        raise RuntimeError("the app never subscribed")
    return publisher, app, ready


def measure(app, publisher, phase: Phase) -> None:
    app.send(json.dumps({"cmd": "begin"}))
    app.readline(timeout=30)
    publisher.send(json.dumps(publish_command(phase)))
    published = json.loads(publisher.readline(timeout=phase.duration + 60))
    last_seq = published["last_seq"] if phase.kind == "event" else None
    app.send(json.dumps({"cmd": "end", "sent": published["sent"], "last_seq": last_seq}))
    seen = json.loads(app.readline(timeout=90))
    phase.sent += published["sent"]
    phase.lost += seen["lost"]
    phase.keys += len(seen["key_latencies_ms"]) + seen["keys_unanswered"]
    phase.unanswered += seen["keys_unanswered"]
    phase.sent_rate.append(published["sent"] / published["elapsed"])
    phase.intake.append(seen["delivered"] / (seen["flood_s"] + seen["catch_up_s"]))
    phase.p50.append(percentile(seen["key_latencies_ms"], 50))
    phase.p99.append(percentile(seen["key_latencies_ms"], 99))
    phase.handled_p50.append(percentile(seen["key_handled_ms"], 50))
    phase.handled_p99.append(percentile(seen["key_handled_ms"], 99))
    phase.fps.append(seen["fps"])
    if seen["delivered"]:
        phase.cpu_us.append(seen["cpu_s"] / seen["delivered"] * 1_000_000)
    spent = seen["flood_s"] + seen["catch_up_s"]
    phase.screen_cpu.append(100 * seen["cpu_s"] / spent)
    if seen["ingest_cpu_s"] is not None:
        phase.ingest_cpu.append(100 * seen["ingest_cpu_s"] / spent)
    phase.rss_before.append(seen["rss_before"] / MB)
    phase.rss_after.append(seen["rss_after"] / MB)
    phase.growth.append((seen["rss_after"] - seen["rss_before"]) / MB)
    phase.inexact += seen["counted"] != seen["delivered"]


def publish_command(phase: Phase) -> dict[str, object]:
    return {"cmd": "publish", "rate": phase.rate, "duration": phase.duration, "kind": phase.kind}


def report(
    plan: list[Phase],
    ready_rss: int,
    options: Options,
    title: str = "The monitor under a flood (headless `run_test`, 160x45, attached with `--sub`)",
) -> Table:
    table = Table(
        title,
        [
            "publisher",
            "sent msg/s",
            "taken in msg/s",
            "screen CPU",
            "ingest CPU",
            "screen CPU per msg",
            "key p50",
            "key p99",
            "key handled p50",
            "key handled p99",
            "frames/s",
            "memory before",
            "memory after",
            "growth",
            "counts",
        ],
        units={
            "key p50": "ms",
            "key p99": "ms",
            "key handled p50": "ms",
            "key handled p99": "ms",
            "frames/s": "",
            "screen CPU": "%",
            "ingest CPU": "%",
            "screen CPU per msg": "µs",
            "memory before": "MB",
            "memory after": "MB",
            "growth": "MB",
        },
    )
    for phase in plan:
        lost = f", {phase.lost:,} dropped at the high-water mark" if phase.lost else ""
        keys = f"; {phase.unanswered} of {phase.keys} key presses unanswered" * bool(
            phase.unanswered
        )
        table.add(
            publisher=phase.label,
            **{
                "sent msg/s": Summary.of(phase.sent_rate),
                "taken in msg/s": Summary.of(phase.intake),
                "screen CPU": Summary.of(phase.screen_cpu),
                "ingest CPU": Summary.of(phase.ingest_cpu),
                "screen CPU per msg": Summary.of(phase.cpu_us),
                "key p50": Summary.of(phase.p50),
                "key p99": Summary.of(phase.p99),
                "key handled p50": Summary.of(phase.handled_p50),
                "key handled p99": Summary.of(phase.handled_p99),
                "frames/s": Summary.of(phase.fps),
                "memory before": Summary.of(phase.rss_before),
                "memory after": Summary.of(phase.rss_after),
                "growth": Summary.of(phase.growth),
                "counts": ("exact" if not phase.inexact else f"{phase.inexact} runs INEXACT")
                + f" ({phase.sent:,} sent{lost}){keys}",
            },
        )
    fastest = plan[-1]
    table.targets.append(
        target(
            f"taken in at {fastest.label}, % of sent",
            Summary.of([100.0 * (fastest.sent - fastest.lost) / max(1, fastest.sent)]),
            at_least=99.0,
            unit="%",
        )
    )
    paced = next((p for p in plan if p.rate == 10_000), None)
    if paced is not None:
        table.targets.append(
            target(
                "screen process CPU at 10k msg/s",
                Summary.of(paced.screen_cpu),
                below=25.0,
                unit="% of a core",
            )
        )
    table.targets.append(
        target(f"key p99 at {fastest.label}", Summary.of(fastest.p99), below=100.0, unit="ms")
    )
    table.targets.append(
        target(
            f"memory growth over {fastest.label}",
            Summary.of(fastest.growth),
            below=50.0,
            unit="MB",
        )
    )
    total = sum(phase.sent for phase in plan)
    last_rss = plan[-1].rss_after[-1] if plan[-1].rss_after else None
    table.targets.append(
        target(
            f"memory growth from the app ready to the end ({total:,} messages sent)",
            Summary.of([None if last_rss is None else last_rss - ready_rss / MB]),
            below=50.0,
            unit="MB",
        )
    )
    table.targets.append(
        target(
            "counts exact (runs with exact counts)",
            Summary.of([100.0 * sum(not p.inexact for p in plan) / len(plan)]),
            at_least=100.0,
            unit="%",
        )
    )
    table.notes.append(
        f"{options.runs} run(s) of each phase on one app process ({ready_rss / MB:.0f} MB when "
        "ready); taken in: messages delivered to the app over the flood plus its catch-up; "
        "key: `p` pressed through the driver every 100 ms, to the first frame after the pane "
        "flipped between following and paused (key handled: to the flip itself, the rest is "
        "waiting for a frame); memory: resident set size."
    )
    table.notes.append(
        "attached with `--sub`, one SUB socket in the ingest child process takes in each "
        "message once for the publisher and the subscriber panes; the screen asks it for what "
        "it shows once per frame. Screen CPU: the app's process; ingest CPU: its child, both "
        "in % of a core over the phase."
    )
    return table


# --- in a real terminal ---------------------------------------------------------------------

TMUX_SIZE = (160, 45)
RECEIVED = re.compile(r"received ([\d,]+)")


def in_tmux(publisher: Child, plan: list[Phase], options: Options) -> Table:
    """The same phases into `zmqtui --sub ENDPOINT...` (each of the publisher's feeds) running in
    tmux, watched through the screen."""
    endpoints = _endpoints_of(publisher)
    subs = [argument for endpoint in endpoints for argument in ("--sub", endpoint)]
    several = f" x{len(endpoints)}" if len(endpoints) > 1 else ""
    table = Table(
        f"The monitor under a flood in a real terminal (`zmqtui --sub`{several} in tmux, "
        f"{TMUX_SIZE[0]}x{TMUX_SIZE[1]})",
        ["publisher", "sent msg/s", "taken in msg/s", "screen CPU", "ingest CPU", "key p50",
         "key p99", "memory before", "memory after", "growth", "counts"],
        units={"key p50": "ms", "key p99": "ms", "memory before": "MB", "memory after": "MB",
               "growth": "MB", "screen CPU": "%", "ingest CPU": "%"},
    )  # fmt: skip
    with options.scratch() as scratch:
        tmux = Tmux(scratch / "tmux.sock")
        output = PaneOutput(scratch / "pane-output")
        try:
            app = tmux.start("exec " + shlex.join([*zmqtui_command(), *subs]), scratch, TMUX_SIZE)
            tmux.copy_output(output.path)
            publisher.send(json.dumps({"cmd": "wait_subscriber", "count": 1}))
            if not json.loads(publisher.readline(timeout=40))["subscribed"]:
                raise RuntimeError("the app in tmux never subscribed")
            time.sleep(0.2 if options.quick else 1.5)  # past the app's start-up collection
            rows = [TmuxPhase(phase.label, options.quick) for phase in plan]
            for _ in range(options.runs):
                for row, phase in zip(rows, plan, strict=True):
                    row.measure(tmux, output, app, publisher, phase)
        finally:
            leftovers = tmux.stop()
            output.close()
    if leftovers:
        table.notes.append(f"{leftovers} process(es) did not quit with `q` and were killed")
    for row in rows:
        table.add(**row.cells())
    table.targets.append(
        target(f"key p99 at {plan[-1].label}, in tmux", Summary.of(rows[-1].p99), below=100.0,
               unit="ms")
    )  # fmt: skip
    last = rows[-1]
    table.targets.append(
        target(f"taken in at {plan[-1].label}, in tmux, % of sent",
               Summary.of([100.0 * last.shown / max(1, last.sent)]), at_least=99.0, unit="%")
    )  # fmt: skip
    table.notes.append(
        "key: `p` sent with `tmux send-keys` about every 100 ms, to the moment the app's "
        "output (copied by `tmux pipe-pane`) shows the pane flipped between following and "
        "paused (starting `send-keys` takes a few ms, which this latency includes); taken "
        "in: the pane's `received` count over the flood and its catch-up; counts: that count "
        "against what was sent (the difference was dropped at the high-water mark: the pane "
        "flags it as seq gaps)."
    )
    return table


def _endpoints_of(publisher: Child) -> list[str]:
    return next(
        json.loads(line)["endpoints"] for line in publisher.seen if line.startswith('{"endpoint"')
    )


@dataclass(slots=True)
class TmuxPhase:
    label: str
    quick: bool
    sent_rate: list[float] = field(default_factory=list)
    intake: list[float] = field(default_factory=list)
    p50: list[float | None] = field(default_factory=list)
    p99: list[float | None] = field(default_factory=list)
    rss_before: list[float] = field(default_factory=list)
    rss_after: list[float] = field(default_factory=list)
    growth: list[float] = field(default_factory=list)
    screen_cpu: list[float] = field(default_factory=list)
    ingest_cpu: list[float] = field(default_factory=list)
    sent: int = 0
    shown: int = 0
    unanswered: int = 0

    def measure(
        self, tmux: Tmux, output: PaneOutput, app: psutil.Process, publisher: Child, phase: Phase
    ) -> None:
        quiet = 0.5 if self.quick else 2.0
        counted_before, _ = settle_count(tmux, quiet)  # the previous phase's backlog is shown
        before = app.memory_info().rss
        cpu_before = _cpu(app), sum(_cpu(child) for child in app.children())
        publisher.send(json.dumps(publish_command(phase)))
        began = time.perf_counter()
        latencies: list[float] = []
        published = None
        while published is None:
            latency = output.press_and_watch(tmux)
            if latency is None:
                self.unanswered += 1
            else:
                latencies.append(latency)
            time.sleep(0.1)
            line = publisher.poll_line()
            published = json.loads(line) if line else None
        counted, settled = settle_count(tmux, quiet)
        spent = settled - began
        self.screen_cpu.append(100 * (_cpu(app) - cpu_before[0]) / spent)
        ingest = sum(_cpu(child) for child in app.children()) - cpu_before[1]
        self.ingest_cpu.append(100 * ingest / spent)
        self.sent += published["sent"]
        self.shown += counted - counted_before
        self.sent_rate.append(published["sent"] / published["elapsed"])
        self.intake.append((counted - counted_before) / (settled - began))
        self.p50.append(percentile(latencies, 50))
        self.p99.append(percentile(latencies, 99))
        after = app.memory_info().rss
        self.rss_before.append(before / MB)
        self.rss_after.append(after / MB)
        self.growth.append((after - before) / MB)

    def cells(self) -> dict[str, object]:
        dropped = self.sent - self.shown
        keys = f"; {self.unanswered} key presses unanswered in 5 s" * bool(self.unanswered)
        return {
            "publisher": self.label,
            "sent msg/s": Summary.of(self.sent_rate),
            "taken in msg/s": Summary.of(self.intake),
            "screen CPU": Summary.of(self.screen_cpu),
            "ingest CPU": Summary.of(self.ingest_cpu),
            "key p50": Summary.of(self.p50),
            "key p99": Summary.of(self.p99),
            "memory before": Summary.of(self.rss_before),
            "memory after": Summary.of(self.rss_after),
            "growth": Summary.of(self.growth),
            "counts": f"{self.shown:,} counted of {self.sent:,} sent"
            + (f" ({dropped:,} dropped at the high-water mark)" if dropped else "")
            + keys,
        }


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system


def screen_count(screen: str) -> int:
    """The subscriber pane's `received` count: the largest on screen, as the publisher pane
    attached to several feeds counts only the first one."""
    counts = [int(found.replace(",", "")) for found in RECEIVED.findall(screen)]
    return max(counts, default=0)


class PaneOutput:
    """What the app writes to its terminal, read as tmux passes it on (`Tmux.copy_output`).

    Tells when the subscriber pane shows the other state (`following` or `paused, N new`)
    without asking tmux for the screen: a `capture-pane` is a process and a few ms of CPU,
    and polling it during a flood takes that CPU from the app being measured.
    """

    STATES = {b"following": False, b"paused,": True}
    """Words of the pane's state line, and whether each means paused."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.touch()
        self._file = path.open("rb")
        self._tail = b""
        self.paused = False

    def _read(self) -> None:
        data = self._file.read()
        if not data:
            return
        chunk = self._tail + data
        seen = {chunk.rfind(word): paused for word, paused in self.STATES.items()}
        last = max(seen)
        if last >= 0:
            self.paused = seen[last]
        self._tail = chunk[-16:]

    def close(self) -> None:
        self._file.close()

    def press_and_watch(self, tmux: Tmux, timeout: float = 5.0) -> float | None:
        """Press `p`; ms until the app wrote the pane's other state, None if it never did."""
        self._read()
        before = self.paused
        pressed = time.perf_counter()
        tmux.press("p")
        while time.perf_counter() - pressed < timeout:
            self._read()
            if self.paused != before:
                return (time.perf_counter() - pressed) * 1000
            time.sleep(0.001)
        return None


def settle_count(tmux: Tmux, quiet: float, timeout: float = 60.0) -> tuple[int, float]:
    """The pane's `received` count once it has stopped moving, and when it last moved."""
    deadline = time.perf_counter() + timeout
    count, moved = screen_count(tmux.screen()), time.perf_counter()
    while time.perf_counter() < deadline and time.perf_counter() - moved < quiet:
        time.sleep(0.05)
        now = screen_count(tmux.screen())
        if now != count:
            count, moved = now, time.perf_counter()
    return count, moved
