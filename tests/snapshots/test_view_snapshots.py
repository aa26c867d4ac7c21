"""Pictures of the Conversations view (`v`) and the socket-events log (`l`) on a fake backend:
fixed pairs and events, times in UTC, no socket, no real port or pid."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from local_feed import LocalFeed
from textual.app import App
from textual.pilot import Pilot

from zmqtui.conversations import Conversation, ConversationBook
from zmqtui.socket_events import SocketEvent
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.backend import SOCKET_NAMES, Endpoints
from zmqtui.tui.messages import ConnectionChanged, ConversationsViewed, SocketEventsLogged

T0 = 1_767_225_600_000
"""2026-01-01 00:00:00 UTC, in ms."""
ENDPOINTS = Endpoints(
    pub="tcp://127.0.0.1:60400",
    req="tcp://127.0.0.1:60401",
    stats="tcp://127.0.0.1:60402",
    control="tcp://127.0.0.1:60403",
    tap="tcp://127.0.0.1:60404",
)
SMALL = (80, 24)
LARGE = (160, 45)
TAP = ENDPOINTS.tap or ""
CLIENTS = ("0080e4b1c2", "client-web", "batch-7")
WORKERS = (5101, 5102, 5103)


pytestmark = pytest.mark.usefixtures("utc")


def conversations() -> ConversationBook:
    """60 pairs from three clients over three workers, two of them without a reply."""
    book = ConversationBook()
    for n in range(60):
        client = CLIENTS[n % 3]
        request = f'json:{{"path":"docs/file-{n:02d}.txt","id":"{n}"}}'
        if n in (41, 55):
            book.add(Conversation(T0 + n * 37, client, request, None, None, None, "timeout"))
            continue
        latency = 0.4 + (n * 7 % 23) / 10 + (12.0 if n % 17 == 0 else 0)
        pid = WORKERS[n % 3 if n % 5 else 0]
        reply = f'json:{{"content":"line {n}\\n","timestamp":{T0 + n},"pid":{pid}}}'
        book.add(Conversation(T0 + n * 37, client, request, reply, latency, pid))
    return book


def socket_events() -> list[SocketEvent]:
    ep = ENDPOINTS
    events = [
        SocketEvent(T0, "sub", ep.pub or "", "connecting"),
        SocketEvent(T0 + 2, "sub", ep.pub or "", "connected"),
        SocketEvent(T0 + 3, "req", ep.req or "", "connecting"),
        SocketEvent(T0 + 4, "stats", ep.stats or "", "connecting"),
        SocketEvent(T0 + 5, "tap", TAP, "connecting"),
    ]
    events += [SocketEvent(T0 + 100 * n, "req", ep.req or "", "retrying") for n in range(1, 31)]
    events += [
        SocketEvent(T0 + 3100, "req", ep.req or "", "connected"),
        SocketEvent(T0 + 3150, "stats", ep.stats or "", "handshake failed",
                    "the server's key does not match"),
        SocketEvent(T0 + 3160, "tap", TAP, "handshake failed",
                    "this client's key is not authorised (the server said 400)"),
        SocketEvent(T0 + 5200, "req", ep.req or "", "disconnected"),
    ]  # fmt: skip
    return events


class ViewsBackend(LocalFeed):
    """Every socket connected, the tap's too; answers nothing but what a test hands it."""

    embedded = False
    endpoints = ENDPOINTS
    watch_path = None

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[int] = []

    def start(self, app: App) -> None:
        self.app = app
        for socket in (*SOCKET_NAMES, "tap"):
            endpoint = getattr(ENDPOINTS, "pub" if socket == "sub" else socket)
            app.post_message(ConnectionChanged(socket, "connected", endpoint))

    async def stop(self) -> None:
        pass

    def set_prefixes(self, prefixes: Sequence[str]) -> None:
        pass

    def view_conversations(self, rows: int) -> None:
        self.rows.append(rows)

    def show(self, book: ConversationBook) -> None:
        self.app.post_message(ConversationsViewed(book.view(self.rows[-1])))

    def log(self, events: list[SocketEvent]) -> None:
        self.app.post_message(SocketEventsLogged(events))


def monitor(tmp_path: Path) -> tuple[ZmqtuiApp, ViewsBackend]:
    backend = ViewsBackend()
    app = ZmqtuiApp(backend, clock=lambda: T0 / 1000 + 12, export_dir=tmp_path)
    app.animation_level = "none"
    return app, backend


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
def test_conversations_view(snap_compare, size: tuple[int, int], tmp_path: Path) -> None:
    """v: the latest pairs (two flagged), and latency percentiles by client and worker."""
    app, backend = monitor(tmp_path)

    async def run_before(pilot: Pilot) -> None:
        await pilot.press("v")
        await pilot.pause()
        backend.show(conversations())
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
def test_socket_events_log(snap_compare, size: tuple[int, int], tmp_path: Path) -> None:
    """l: connects, a run of retries on one line, failed CURVE handshakes in plain words."""
    app, backend = monitor(tmp_path)

    async def run_before(pilot: Pilot) -> None:
        backend.log(socket_events())
        await pilot.pause()
        await pilot.press("l")
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
