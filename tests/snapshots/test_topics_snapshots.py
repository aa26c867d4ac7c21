"""Pictures of the topics view (`t`) on fixed counts: one feed at 80x24, two feeds large.

The counts, rates and histories are scripted into a `TopicStats` (no socket, no live rate);
the clock is frozen, so "last seen" does not move.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from local_feed import LocalFeed
from textual.app import App
from textual.pilot import Pilot

from zmqtui.topicstats import NS_PER_S, TopicsQuery, TopicStats
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.backend import SOCKET_NAMES, Endpoints
from zmqtui.tui.messages import ConnectionChanged, TopicsViewed
from zmqtui.tui.views.topics import TopicsScreen

T0_S = 1_767_225_600
MARKET = "tcp://127.0.0.1:5556"
LOGS = "ipc:///run/app/logs"
SECONDS = 40

MIX: dict[str, Sequence[tuple[bytes | None, int, int]]] = {
    MARKET: (
        (b"md.AAPL", 120, 52),  # (topic, messages a second at the start, bytes each)
        (b"md.MSFT", 40, 52),
        (b"pb.order", 6, 31),
        (b"10001", 3, 11),
        (b"bin.blob", 1, 25),
        (None, 1, 131),
    ),
    LOGS: ((b"log.warn", 9, 96), (b"log.error", 1, 120), (b"\x1b[31mred", 1, 4)),
}


def scripted(feeds: Sequence[str]) -> TopicStats:
    """`SECONDS` seconds of the mix: md.AAPL floods more and more, the rest stays steady."""
    stats = TopicStats()
    stats.watch(MARKET, b"md.AAPL")  # chosen from the start: its sparkline is full
    stats.sample(T0_S * NS_PER_S)
    for second in range(1, SECONDS + 1):
        at = (T0_S + second) * NS_PER_S
        for feed in feeds:
            for topic, rate, size in MIX[feed]:
                flood = rate * (1 + second // 8) if topic == b"md.AAPL" else rate
                for _ in range(flood):
                    stats.count(feed, topic, size, at - (topic is None) * 7 * NS_PER_S)
        stats.count_missed(MARKET, b"10001", 1 if second % 10 == 0 else 0)
        stats.sample(at)
    return stats


class TopicsBackend(LocalFeed):
    """Every socket connected; topics answered from scripted counts."""

    embedded = False
    watch_path = None

    def __init__(self, feeds: Sequence[str]) -> None:
        super().__init__()
        self.endpoints = Endpoints(pub=MARKET)
        self.stats = scripted(feeds)

    def start(self, app: App) -> None:
        self.app = app
        for socket in SOCKET_NAMES:
            endpoint = MARKET if socket in ("pub", "sub") else None
            app.post_message(
                ConnectionChanged(socket, "connected" if endpoint else "off", endpoint)
            )

    async def stop(self) -> None:
        pass

    def set_prefixes(self, prefixes: Sequence[str]) -> None:
        pass

    def topics(self, query: TopicsQuery | None) -> None:
        if query is not None and self.app is not None:
            self.app.post_message(TopicsViewed(self.stats.view(query)))


def topics_app(feeds: Sequence[str], tmp_path: Path) -> ZmqtuiApp:
    app = ZmqtuiApp(TopicsBackend(feeds), clock=lambda: T0_S + SECONDS, export_dir=tmp_path)
    app.animation_level = "none"
    return app


async def shown(pilot: Pilot, *keys: str) -> None:
    """Open the view, press `keys`, and wait until the answer to the last query is on screen."""
    app = pilot.app
    assert isinstance(app, ZmqtuiApp)
    await pilot.press("t", *keys)
    screen = app.view(TopicsScreen)
    assert screen is not None
    while screen.view is None or screen.view.query != screen.topics_query:
        await pilot.pause()
    await pilot.pause(0.05)


SMALL = (80, 24)
LARGE = (160, 45)


def test_one_feed_at_80x24_with_a_chosen_topic(snap_compare, tmp_path: Path) -> None:
    """md.AAPL floods the bus: on top, its rate climbing in its sparkline once chosen."""

    async def run_before(pilot: Pilot) -> None:
        await shown(pilot, "enter")  # chosen: back to the subscriber, filtered
        await shown(pilot)

    app = topics_app([MARKET], tmp_path)
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["80x24", "160x45"])
def test_two_feeds_sorted_by_bytes(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """Two feeds, a sparkline each; sorted by bytes; an escaped topic from the logs feed."""
    app = topics_app([MARKET, LOGS], tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=lambda p: shown(p, "s", "s"))
