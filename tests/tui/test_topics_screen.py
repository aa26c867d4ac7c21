"""The topics view (`t`): counts per feed and topic, sorting, choosing a topic filters the list."""

from __future__ import annotations

import asyncio

import pytest
import zmq
from fake_backend import FakeBackend, on_screen
from helpers import bound, wait_for
from textual.pilot import Pilot
from textual.widgets import Input

from zmqtui.captures import Capture
from zmqtui.decoders import decode_message
from zmqtui.feedfilter import parse_filter
from zmqtui.topicstats import NS_PER_S, TopicsQuery
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.bridge import ZmqBridge
from zmqtui.tui.views.topics import TopicsScreen, topic_filter

NOW_S = 1_767_225_600
SIZE = (100, 30)
MARKET = "tcp://127.0.0.1:60410"


def counted(backend: FakeBackend, *, feeds: tuple[str, ...] = (MARKET,)) -> FakeBackend:
    """A mixed feed's counts, fixed: md.AAPL floods, md.MSFT has the bytes, weather has gaps."""
    stats = backend.topic_stats
    at = (NOW_S - 2) * NS_PER_S
    stats.sample(at - NS_PER_S)
    for feed in feeds:
        for _ in range(30):
            stats.count(feed, b"md.AAPL", 40, at)
        for _ in range(5):
            stats.count(feed, b"md.MSFT", 900, at - 3 * NS_PER_S)
        for _ in range(10):
            stats.count(feed, b"10001", 11, at - 60 * NS_PER_S)
        stats.count(feed, None, 130, at)
    stats.count_missed(feeds[0], b"10001", 4)
    stats.sample(at)
    return backend


def app_on(backend: FakeBackend) -> ZmqtuiApp:
    return ZmqtuiApp(backend, clock=lambda: float(NOW_S))


async def opened(pilot: Pilot) -> TopicsScreen:
    """`t` pressed, and the first answer on screen."""
    app = pilot.app
    assert isinstance(app, ZmqtuiApp)
    await pilot.press("t")
    screen = app.view(TopicsScreen)
    assert screen is not None
    await wait_for(lambda: screen.view is not None)
    return screen


def topics_of(screen: TopicsScreen) -> list[bytes | None]:
    return [topic for _, topic in screen.table.row_keys]  # type: ignore[misc]


class TestTopicsView:
    async def test_t_shows_the_busiest_topic_first_and_asks_only_while_open(self) -> None:
        backend = counted(FakeBackend(embedded=False))
        app = app_on(backend)
        async with app.run_test(size=SIZE) as pilot:
            screen = await opened(pilot)
            assert app.screen is screen
            assert topics_of(screen) == [b"md.AAPL", b"10001", b"md.MSFT", None]
            cells = [c.plain for c in screen.table.get_row((MARKET, b"md.AAPL"))]
            assert cells == [MARKET, "md.AAPL", "30", "30.0/s", "1.2K", "65.2%", "2s", ""]
            assert screen.table.get_row((MARKET, b"10001"))[-1].plain == "4"
            assert screen.table.get_row((MARKET, None))[1].plain == "(no topic)"
            await pilot.press("escape")
            await wait_for(lambda: app.screen is app.main_screen)
            assert backend.calls[-1] == ("topics", None)
            await pilot.press("t")
            await wait_for(lambda: app.screen is screen)
            assert backend.calls[-1] == ("topics", TopicsQuery())
            await pilot.press("t")  # t closes it too
            await wait_for(lambda: app.screen is app.main_screen)
            await pilot.press("t", "3")  # a pane's key goes back to that pane
            await wait_for(lambda: app.focused is app.composer_pane.main_control)

    async def test_s_cycles_the_sort_r_reverses_and_a_header_click_sorts(self) -> None:
        app = app_on(counted(FakeBackend(embedded=False)))
        async with app.run_test(size=SIZE) as pilot:
            screen = await opened(pilot)
            await pilot.press("s")  # rate
            await wait_for(lambda: screen.view.query.sort == "rate")
            assert topics_of(screen)[0] == b"md.AAPL"
            await pilot.press("s")  # bytes
            await wait_for(lambda: screen.view.query.sort == "bytes")
            assert topics_of(screen)[0] == b"md.MSFT"
            await pilot.press("r")
            await wait_for(lambda: not screen.view.query.descending)
            assert topics_of(screen)[0] == b"10001"
            header = screen.table.region
            assert screen.table.shown_columns[0].key == "topic"  # one feed: no feed column
            topic_x = 2
            await pilot.click(offset=(header.x + topic_x, header.y))
            await wait_for(lambda: screen.view.query.sort == "topic")
            assert topics_of(screen) == [None, b"10001", b"md.AAPL", b"md.MSFT"]
            await pilot.click(offset=(header.x + topic_x, header.y))  # the same: reversed
            await wait_for(lambda: screen.view.query.descending)
            assert topics_of(screen)[0] == b"md.MSFT"

    async def test_s_skips_the_columns_not_on_screen(self) -> None:
        app = app_on(counted(FakeBackend(embedded=False)))
        async with app.run_test(size=(80, 24)) as pilot:  # one feed: no feed column
            screen = await opened(pilot)
            orders = []
            for _ in range(6):
                await pilot.press("s")
                orders.append(screen.topics_query.sort)
            assert orders == ["rate", "bytes", "last", "missed", "topic", "messages"]

    async def test_a_long_topic_shows_whole_where_the_screen_has_room(self) -> None:
        long_topic = b"sensors.building-7.floor-3.room-12.temperature"
        backend = FakeBackend(embedded=False)
        backend.topic_stats.count(MARKET, long_topic, 40, NOW_S * NS_PER_S)
        app = app_on(backend)
        async with app.run_test(size=(120, 30)) as pilot:
            screen = await opened(pilot)
            await pilot.pause()
            assert long_topic.decode() in "\n".join(on_screen(screen.table))
            header = on_screen(screen.table)[0]
            assert header.index("messages") > len(long_topic)

    async def test_enter_filters_the_subscriber_list_to_the_topic_and_follows_its_rate(
        self,
    ) -> None:
        backend = counted(FakeBackend(embedded=False))
        app = app_on(backend)
        async with app.run_test(size=SIZE) as pilot:
            screen = await opened(pilot)
            await pilot.press("down", "enter")
            await wait_for(lambda: app.screen is app.main_screen)
            field = app.subscriber_pane.query_one("#subscriber-filter", Input)
            assert field.value == "@topic=10001"
            await wait_for(lambda: backend.streams["sub"].filter.expression == "@topic=10001")
            await wait_for(lambda: app.focused is app.subscriber_pane.log_view)
            await pilot.press("t")
            await wait_for(lambda: screen.view.query.watched == (MARKET, b"10001"))
            assert screen.view.watched_history == ()
            assert "chosen: 10001" in str(screen.query_one("#topics-chosen Static").render())

    async def test_choosing_a_topic_lists_only_its_messages(self) -> None:
        backend = counted(FakeBackend(embedded=False))
        app = app_on(backend)
        async with app.run_test(size=SIZE) as pilot:
            mix = [[b"md.AAPL", b'{"bid":1}'], [b"10001 23 45"], [b"md.MSFT", b"{}"]] * 2
            arrived = [Capture(tuple(frames), NOW_S * NS_PER_S + n) for n, frames in enumerate(mix)]
            backend.add("sub", arrived)
            await opened(pilot)
            await pilot.press("enter")  # md.AAPL, the busiest
            pane = app.subscriber_pane
            await wait_for(lambda: pane.view.shown == 2)
            assert {capture.topic for capture in pane.view.rows} == {"md.AAPL"}

    async def test_with_several_feeds_the_filter_names_the_feed_too(self) -> None:
        app = app_on(counted(FakeBackend(embedded=False), feeds=(MARKET, "logs")))
        async with app.run_test(size=SIZE) as pilot:
            screen = await opened(pilot)
            assert len(screen.view.feeds) == 2
            await pilot.press("enter")
            field = app.subscriber_pane.query_one("#subscriber-filter", Input)
            await wait_for(lambda: field.value != "")
            assert field.value == f"@feed={MARKET} @topic=md.AAPL"

    async def test_a_topic_with_controls_is_chosen_escaped_and_lists_its_messages(self) -> None:
        backend = FakeBackend(embedded=False)
        hostile = "\x1b[31mRED\x1b[0m\x07 bidi.\u202eevil".encode()
        backend.topic_stats.count(MARKET, hostile, 40, NOW_S * NS_PER_S)
        app = app_on(backend)
        async with app.run_test(size=SIZE) as pilot:
            mix = [[hostile, b'{"bid":1}'], [b"md.AAPL", b"{}"]] * 2
            arrived = [Capture(tuple(frames), NOW_S * NS_PER_S + n) for n, frames in enumerate(mix)]
            backend.add("sub", arrived)
            await opened(pilot)
            await pilot.press("enter")
            field = app.subscriber_pane.query_one("#subscriber-filter", Input)
            await wait_for(lambda: field.value != "")
            assert field.value == "@topic='\\x1b[31mRED\\x1b[0m\\x07 bidi.\\u202eevil'"
            pane = app.subscriber_pane
            await wait_for(lambda: pane.view.shown == 2)

    async def test_a_topic_seen_at_the_clocks_time_was_last_seen_0s_ago(self) -> None:
        """A float clock (a recording's position in seconds) rounds a few hundred ns off the
        last message's receive time: that message was seen 0s ago, not at no time (—)."""
        backend = FakeBackend(embedded=False)
        backend.topic_stats.count(MARKET, b"md.AAPL", 40, NOW_S * NS_PER_S + 200)
        app = app_on(backend)
        async with app.run_test(size=SIZE) as pilot:
            screen = await opened(pilot)
            assert screen.table.get_row((MARKET, b"md.AAPL"))[-2].plain == "0s"


def test_topic_filters_quote_what_a_query_would_split() -> None:
    assert topic_filter(("f", b"a b"), with_feed=False) == "@topic='a b'"
    assert topic_filter(("f", None), with_feed=False) == "@notopic=true"
    assert topic_filter(("my feed", b"x"), with_feed=True) == "@feed='my feed' @topic=x"
    hostile = "[red]evil[/]\x1b[31m\u202e"  # a feed's name from the config
    assert topic_filter((hostile, b"x"), with_feed=True) == (
        "@feed='[red]evil[/]\\x1b[31m\\u202e' @topic=x"
    )
    chosen = parse_filter(topic_filter((hostile, b"md.\x1b"), with_feed=True))
    assert chosen.matches(hostile, decode_message([b"md.\x1b", b"{}"])), "the filter finds it"


@pytest.mark.integration
async def test_on_the_real_bridge_the_ingest_child_counts_the_topics(actx, ipc_endpoint) -> None:
    endpoint = ipc_endpoint("feed")
    pub = bound(actx, zmq.PUB, endpoint)
    app = ZmqtuiApp(ZmqBridge(Endpoints(pub=endpoint)))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("t")
            screen = app.view(TopicsScreen)
            assert screen is not None

            def counted_all() -> bool:
                return bool(screen.view and {(endpoint, b"md.AAPL")} <= set(screen.table.row_keys))

            for _ in range(200):  # a slow joiner misses the first ones
                await pub.send_multipart([b"md.AAPL", b"{}"])
                if counted_all():
                    break
                await asyncio.sleep(0.05)
            assert counted_all(), "the topics view never showed the feed's topic"
            await pilot.press("q")
    finally:
        pub.close(linger=0)
