"""Pictures of the whole monitor in its main states, on a scripted backend.

Nothing on screen changes between runs: the backend posts fixed messages, the clock is frozen,
times are shown in UTC, animations are off and no socket is opened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import msgpack
import pytest
from helpers import settled
from local_feed import LocalFeed
from textual.app import App
from textual.pilot import Pilot

from zmqtui.captures import NS_PER_MS, Capture
from zmqtui.config import FeedConfig
from zmqtui.history import History, HistoryRecord
from zmqtui.protocol import ChangeEvent, ClusterSnapshot, FileReply, WorkerStats
from zmqtui.request_spec import RequestSpec
from zmqtui.results import LoadSummary, RequestResult
from zmqtui.services.ingest import Stream
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.backend import SOCKET_NAMES, Endpoints
from zmqtui.tui.messages import (
    ConnectionChanged,
    EventsPublished,
    LoadFinished,
    PublisherStatus,
    RequestFinished,
    SnapshotReceived,
)
from zmqtui.tui.panes.composer.library import CollectionTree

SIZE = (160, 45)
T0 = 1_767_225_600_000
"""2026-01-01 00:00:00 UTC, in ms."""
PUBLISHER = "5f3a9c21d0b7"
ENDPOINTS = Endpoints(
    pub="tcp://127.0.0.1:60400",
    req="tcp://127.0.0.1:60401",
    stats="tcp://127.0.0.1:60402",
    control="tcp://127.0.0.1:60403",
)
FILES = ("docs/intro.md", "src/app.py", "src/util.py", "README.md", "data/target.txt")


def change(seq: int, at: int) -> ChangeEvent:
    kind = ("modified", "created", "modified", "deleted")[seq % 4]
    return ChangeEvent(FILES[seq % len(FILES)], T0 + at, kind, seq, PUBLISHER, 4100)


def published() -> list[ChangeEvent]:
    return [change(seq, seq * 350) for seq in range(1, 31)]


def received() -> list[Capture]:
    captures = []
    for event in published():
        if event.seq in (25, 26):
            continue  # lost on the way: a gap the subscriber notes
        lag = 2 + event.seq % 5 if event.seq < 28 else 1200 + event.seq
        notes = ("gap: missed 2 event(s) from publisher 5f3a9c21d0b7 (seq 25..26)",)
        captures.append(
            Capture(
                (event.encode(),),
                (event.timestamp + lag) * NS_PER_MS,
                event,
                None,
                notes if event.seq == 27 else (),
            )
        )
    captures.insert(
        -2,
        Capture(
            (b"[bold]not json[/bold] \x1b[31m",), (T0 + 10_300) * NS_PER_MS, None, "not UTF-8 JSON"
        ),
    )
    return captures


def cluster() -> ClusterSnapshot:
    def worker(slot: int, pid: int, state: str, requests: int, restarts: int = 0) -> WorkerStats:
        return WorkerStats(
            slot=slot,
            pid=pid,
            state=state,
            requests=requests,
            errors=1 if slot == 2 else 0,
            restarts=restarts,
            started=T0 - 95_000,
            last_heartbeat=T0,
            latency_ms=0.6 + slot / 10,
            cpu_percent=2.5 * (slot + 1),
            memory_bytes=(27 + slot) * 1024 * 1024,
        )

    return ClusterSnapshot(
        pid=4200,
        timestamp=T0 + 10_000,
        endpoints={"frontend": ENDPOINTS.req or ""},
        routing="lb",
        broker={"frontend_in": 1520, "frontend_bytes_in": 48_000},
        workers=[
            worker(0, 4201, "ready", 512),
            worker(1, 4202, "busy", 498),
            worker(2, 4305, "starting", 0, restarts=1),
            worker(3, 4204, "ready", 510),
        ],
        seq=12,
    )


def reply() -> RequestResult:
    content = "The target file.\nIt changed [bold]thrice[/bold].\n"
    return RequestResult(
        path="data/target.txt",
        reply=FileReply(content, T0 + 10_200, 4202, "r-1"),
        latency_ms=1.84,
        tries=1,
        request_id="r-1",
    )


def load() -> LoadSummary:
    summary = LoadSummary(
        endpoint=ENDPOINTS.req or "", path="src/app.py", count=200, concurrency=8, sent=200
    )
    summary.replies = 200
    summary.replies_by_pid = Counter({4201: 68, 4202: 66, 4204: 66})
    summary.latencies_ms = [1.0 + (n % 20) / 10 for n in range(200)]
    summary.elapsed_s = 0.125
    return summary


class ScriptedBackend(LocalFeed):
    """Posts a fixed story on start; records nothing, opens nothing."""

    def __init__(self, *, embedded: bool = True, endpoints: Endpoints = ENDPOINTS) -> None:
        super().__init__()
        self.embedded = embedded
        self.endpoints = endpoints
        self.watch_path = Path("/srv/files") if embedded else None
        self.states: dict[str, str] = {}

    def start(self, app: App) -> None:
        self.app = app
        for socket in SOCKET_NAMES:
            endpoint = getattr(self.endpoints, "pub" if socket == "sub" else socket)
            state = self.states.get(
                socket, "bound" if socket == "pub" and self.embedded else "connected"
            )
            app.post_message(ConnectionChanged(socket, state if endpoint else "off", endpoint))
        if self.embedded:
            app.post_message(EventsPublished(published()))
            app.post_message(PublisherStatus(30, 2, {b"": 1, b'{"type":"changed","file":"src/': 1}))
            self.add("sub", received())
        elif self.endpoints.pub:  # one feed, named after its endpoint as `--sub` names it
            for stream in ("observer", "sub"):
                self.add(stream, [replace(c, feed=self.endpoints.pub) for c in received()])
        if self.endpoints.stats and self.states.get("stats", "connected") == "connected":
            app.post_message(SnapshotReceived(cluster()))
        if self.endpoints.req:
            app.post_message(RequestFinished(reply()))

    async def stop(self) -> None:
        pass

    def set_prefixes(self, prefixes: Sequence[str]) -> None:
        pass

    def publish(self, file: str, event: str) -> None:
        pass

    def send_request(
        self, path: str, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        pass

    def control(self, command: str, **args: int) -> None:
        pass


pytestmark = pytest.mark.usefixtures("utc")


def monitor(backend: ScriptedBackend, tmp_path: Path) -> ZmqtuiApp:
    app = ZmqtuiApp(backend, clock=lambda: T0 / 1000 + 12, export_dir=tmp_path)
    app.animation_level = "none"
    return app


def test_embedded_overview(snap_compare, tmp_path: Path) -> None:
    """All four panes with data: events, received messages with a gap, a reply, workers."""
    assert snap_compare(
        monitor(ScriptedBackend(), tmp_path), terminal_size=SIZE, run_before=settled
    )


def test_load_summary_and_selected_message(snap_compare, tmp_path: Path) -> None:
    """A load run's summary in the requests pane; a selected message shown whole (paused)."""
    app = monitor(ScriptedBackend(), tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        app.post_message(LoadFinished(load()))
        await pilot.press("up", "up", "up", "up", "up")
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_attached_to_a_publisher_only(snap_compare, tmp_path: Path) -> None:
    """Attach mode with --sub alone: the other panes say which endpoint is missing."""
    backend = ScriptedBackend(embedded=False, endpoints=Endpoints(pub="tcp://10.0.0.7:5556"))
    assert snap_compare(monitor(backend, tmp_path), terminal_size=SIZE, run_before=settled)


def test_services_down(snap_compare, tmp_path: Path) -> None:
    """The cluster is down: stats and control retrying, requests disconnected."""
    backend = ScriptedBackend()
    backend.states = {"req": "disconnected", "stats": "retrying", "control": "retrying"}
    assert snap_compare(monitor(backend, tmp_path), terminal_size=SIZE, run_before=settled)


def test_subscriber_maximised_filtered_and_paused(snap_compare, tmp_path: Path) -> None:
    """The subscriber pane alone: a regex filter, paused, with arrivals counted."""
    app = monitor(ScriptedBackend(), tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("2", "m", "slash", *"/^src/", "escape", "p")
        more = [c for c in received() if c.event is not None][:8]
        app.backend.add("sub", more)
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def any_feed() -> list[Capture]:
    """An ordinary feed's messages: multipart msgpack and JSON with topics, the guide's weather
    text, protobuf, binary, and a JSON object claiming to be a change event that is not."""
    messages = [
        [b"md.AAPL", msgpack.packb({"sym": "AAPL", "bid": 189.01, "ask": 189.03, "seq": 1})],
        [b'log.warn {"level": "warn", "msg": "disk 81% full", "host": "db-1"}'],
        [b"10001 23 45"],
        [b"pb.order", bytes.fromhex("080112044141504c22050865120158")],
        [b"bin.blob", bytes(range(0xF0, 0x100)) + b"\x1b[31m"],
        [b'{"type": "changed", "path": "x"}'],
        [b"md.MSFT", msgpack.packb({"sym": "MSFT", "bid": 415.82, "ask": 415.84, "seq": 1})],
    ]
    return [
        Capture(tuple(frames), (T0 + 11_000 + 50 * n) * NS_PER_MS)
        for n, frames in enumerate(messages)
    ]


def test_subscriber_on_any_feed(snap_compare, tmp_path: Path) -> None:
    """The subscriber pane alone on any feed: topics and decoded payloads beside the book's
    events, a msgpack message selected and each of its frames decoded below."""
    app = monitor(ScriptedBackend(), tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        app.backend.add("sub", any_feed())
        await pilot.press("2", "m", *["up"] * 6)  # md.AAPL
        await settled(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare, tmp_path: Path) -> None:
    """F1: the panes, the views and every key."""
    app = monitor(ScriptedBackend(), tmp_path)
    assert snap_compare(app, terminal_size=SIZE, run_before=settled, press=["f1"])


SMALL = (80, 24)
"""The most common default terminal: every pane must be usable at this size."""


def test_small_terminal(snap_compare, tmp_path: Path) -> None:
    """80x24: the request form on two lines with a wide path field, the workers' columns
    that give way dropped, the footer's app keys kept."""
    app = monitor(ScriptedBackend(), tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        app.composer_pane.fill("data/target.txt", 100_000, 16)
        await settled(pilot)

    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, SIZE], ids=["80x24", "160x45"])
def test_requests_maximised(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """The requests pane alone, a filled form and a reply, small and large."""
    app = monitor(ScriptedBackend(), tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        app.composer_pane.fill("data/target.txt", 100_000, 16)
        await pilot.press("3", "m")
        await settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def several_feeds() -> list[Capture]:
    """Three feeds' messages, interleaved as they arrive: a market feed's msgpack quotes, a log
    feed's JSON lines and the guide's weather text."""
    messages = [
        ("market", [b"md.AAPL", msgpack.packb({"sym": "AAPL", "bid": 189.01, "seq": 7})]),
        ("logs", [b'log.warn {"level": "warn", "msg": "disk 81% full", "host": "db-1"}']),
        ("weather", [b"10001 23 45"]),
        ("market", [b"md.MSFT", msgpack.packb({"sym": "MSFT", "bid": 415.82, "seq": 8})]),
        ("logs", [b'log.info {"level": "info", "msg": "backup done", "host": "db-2"}']),
        ("weather", [b"10002 -4 81"]),
        ("market", [b"md.AAPL", msgpack.packb({"sym": "AAPL", "bid": 189.02, "seq": 9})]),
    ]
    return [
        Capture(tuple(frames), (T0 + 11_000 + 50 * n) * NS_PER_MS, feed=feed)
        for n, (feed, frames) in enumerate(messages)
    ]


@pytest.mark.parametrize("size", [SMALL, SIZE], ids=["80x24", "160x45"])
def test_subscriber_on_several_feeds(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """The subscriber pane alone on three feeds: each row names its feed, a line gives each
    feed's state and count (one retrying, one that refused a message too large), the selected
    message's feed in its detail."""
    app = monitor(ScriptedBackend(), tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        stream = app.backend.streams["sub"] = Stream("sub")
        weather = stream.source("weather")
        weather.state = "retrying"
        market = stream.source("market")
        market.given_up = 1
        market.config = FeedConfig("market", "tcp://127.0.0.1:5556", max_message_bytes=4 << 20)
        stream.source("logs")
        app.backend.add("sub", several_feeds())
        await pilot.press("2", "m", "up", "up")  # logs' info line
        await settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def quotes() -> list[Capture]:
    """Two quotes to compare: a field changed, some added, one removed."""
    bodies = [
        {"sym": "AAPL", "bid": 189.01, "ask": 189.03, "seq": 7, "venue": {"id": "XNAS"}},
        {
            "sym": "AAPL",
            "bid": 189.05,
            "ask": 189.03,
            "seq": 8,
            "venue": {"id": "XNAS", "halted": False},
            "note": "[bold]open",
        },
    ]
    return [
        Capture((b"md.AAPL", msgpack.packb(body)), (T0 + 11_000 + 250 * n) * NS_PER_MS)
        for n, body in enumerate(bodies)
    ]


@pytest.mark.parametrize("size", [SMALL, SIZE], ids=["80x24", "160x45"])
def test_subscriber_comparing_two_messages(snap_compare, tmp_path: Path, size) -> None:
    """The subscriber pane alone: a message marked (x), a later one selected, the detail shows
    what differs between them, coloured by kind."""
    app = monitor(ScriptedBackend(), tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        app.backend.add("sub", quotes())
        await pilot.press("2", "m", "up", "x", "down")
        await settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def saved_requests(root: Path) -> Path:
    """A collection with folders, a DEALER request, a file that is not TOML and two
    environments; a history of three outcomes."""
    (root / "books").mkdir(parents=True)
    (root / "admin").mkdir()
    (root / "environments.toml").write_text(
        "[env.dev]\nhost = '127.0.0.1'\n[env.prod]\nhost = 'x'\n"
    )
    (root / "ping.toml").write_text("endpoint = 'tcp://${host}:5555'\nframes = ['text:ping']\n")
    (root / "books" / "readme.toml").write_text(
        "endpoint = 'tcp://${host}:60401'\nframes = ['json:{\"path\": \"README.md\"}']\n"
    )
    (root / "books" / "intro.toml").write_text(
        "endpoint = 'tcp://${host}:60401'\nsocket = 'DEALER'\n"
        'frames = [\'json:{"path": "docs/intro.md"}\']\n'
    )
    (root / "admin" / "drain.toml").write_text("endpoint = 'tcp://${host}:60403'\nframes = [\n")
    history = History()
    for n, (name, outcome) in enumerate(
        [
            (
                "books/readme",
                {"reply": 'json:{"content":"# zmqtui","pid":4101}', "latency_ms": 1.4},
            ),
            ("ping", {"error": "no reply after 3 tries", "latency_ms": 7500.0}),
            ("books/intro", {"reply": 'json:{"content":"Intro","pid":4102}', "latency_ms": 0.9}),
        ]
    ):
        spec = RequestSpec("tcp://127.0.0.1:60401", ("text:x",), name=name)
        history.append(HistoryRecord(spec, T0 + n, **outcome))
    return root


@pytest.mark.parametrize("size", [SMALL, SIZE], ids=["80x24", "160x45"])
def test_saved_requests_and_history(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """The requests pane maximised: the collection's tree (folders, a DEALER request, a file
    that cannot be read with its reason, the environment) and the history kept across runs."""
    collection = saved_requests(tmp_path / "zmq-requests")
    app = ZmqtuiApp(
        ScriptedBackend(),
        clock=lambda: T0 / 1000 + 12,
        export_dir=tmp_path,
        collection_dir=collection,
    )
    app.animation_level = "none"

    async def run_before(pilot: Pilot) -> None:
        await settled(pilot)
        await pilot.press("3", "m")
        app.query_one(CollectionTree).focus()
        await settled(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
