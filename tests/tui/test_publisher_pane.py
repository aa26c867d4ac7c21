"""The publisher pane: events, counts, subscriptions, and publishing by hand."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from fake_backend import T0, FakeBackend, capture, event, raw_capture
from helpers import lines_on_screen, wait_for
from local_feed import LocalFeed
from rich.console import Console
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Input

from zmqtui.services.subscriber import topic_for
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.messages import FeedViewed, ViewWanted
from zmqtui.tui.panes.publisher import (
    ManualEvent,
    PublisherPane,
    format_subscriptions,
    parse_manual_event,
)
from zmqtui.tui.widgets.live_text import LiveText
from zmqtui.tui.widgets.ring_log import RingLog


class Host(App[None]):
    AUTO_FOCUS = "#publisher-log"

    def __init__(self, embedded: bool = True) -> None:
        super().__init__()
        self.embedded = embedded
        self.feed = LocalFeed()
        self.feed.app = self
        self.posted: list[Message] = []
        self.notices: list[str] = []

    def notify(self, message: str, **kwargs) -> None:
        self.notices.append(message)
        super().notify(message, **kwargs)

    def compose(self) -> ComposeResult:
        yield PublisherPane(embedded=self.embedded, clock=lambda: T0 / 1000, id="publisher")

    def on_publisher_pane_publish_requested(self, message: Message) -> None:
        self.posted.append(message)

    def on_view_wanted(self, message: ViewWanted) -> None:
        self.feed.view(message.stream, message.query)

    def on_feed_viewed(self, message: FeedViewed) -> None:
        self.pane.show_view(message.view)

    @property
    def pane(self) -> PublisherPane:
        return self.query_one(PublisherPane)


def on_screen(log: RingLog) -> list[str]:
    lines = (
        "".join(segment.text for segment in log.render_line(y)).rstrip()
        for y in range(log.scrollable_content_region.height)
    )
    return [line for line in lines if line]


def stats_text(pane: PublisherPane) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(pane.query_one("#publisher-stats", LiveText).text)
    return console.file.getvalue()


async def test_published_events_counts_and_subscriptions() -> None:
    app = Host()
    async with app.run_test(size=(100, 20)):
        pane = app.pane
        pane.set_status(2, 3, {b"": 2, b'{"type":"changed","file":"src/': 1})  # told first
        pane.add_events([event(1, "a.txt", "created"), event(2, "[b]x[/b]", "deleted", at=5)])
        lines = await wait_for(lambda: on_screen(pane.log_view))
        assert lines[0] == "#1      created  00:00:00.000  a.txt"
        assert lines[1] == "#2      deleted  00:00:00.005  [b]x[/b]"
        stats = stats_text(pane)
        assert "published 2" in stats and "subscribers 3" in stats
        assert 'subscriptions everything (2), path "src/" (1)' in stats


async def test_undecodable_file_names_are_shown_escaped() -> None:
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")  # as os.fsdecode gives it
    app = Host()
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.pane
        pane.add_events([event(1, name, "created")])
        lines = await wait_for(lambda: on_screen(pane.log_view))
        await pilot.pause()
        assert lines[0] == "#1      created  00:00:00.000  caf\\udce9.txt"


async def test_publish_by_hand_posts_file_kind_and_destination_then_leaves_the_field() -> None:
    app = Host()
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.press("n")
        assert isinstance(app.focused, Input)
        await pilot.press(*"'my file.txt' deleted", "enter")
        assert app.focused is app.pane.log_view, "the next n is a key, not a letter of a name"
        await pilot.press("n", *"b.txt", "enter", "n", *"a.txt moved b/a.txt", "enter")
        await wait_for(lambda: len(app.posted) == 3)
        assert [(m.file, m.event, m.dest) for m in app.posted] == [
            ("my file.txt", "deleted", None),
            ("b.txt", "modified", None),
            ("a.txt", "moved", "b/a.txt"),
        ]
        assert app.pane.query_one(Input).value == ""


async def test_publish_by_hand_refuses_what_it_cannot_publish() -> None:
    app = Host()
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.press("n", *"a.txt chnaged", "enter")
        await pilot.pause()
        field = app.pane.query_one(Input)
        assert app.focused is field and field.value == "a.txt chnaged", "kept, to correct"
        assert app.notices[-1].startswith("unknown kind 'chnaged': FILE [created|modified|")
        field.value = "a.txt moved"
        await pilot.press("enter")
        await pilot.pause()
        assert app.notices[-1] == "a move takes one destination: a.txt moved DEST"
        assert not app.posted


async def test_attached_pane_shows_what_a_subscriber_receives() -> None:
    app = Host(embedded=False)
    async with app.run_test(size=(100, 20)) as pilot:
        pane = app.pane
        assert not pane.query_one(Input).display
        claimed = raw_capture([b'{"type": "changed", "[i]": 1}'], "")
        others = [raw_capture([b"log.warn", b'{"msg": "[b]"}'], ""), claimed]
        app.feed.add("observer", [capture(event(9)), *others])
        lines = await wait_for(
            lambda: len(on_screen(pane.log_view)) == 3 and on_screen(pane.log_view)
        )
        assert "#9      modified" in lines[0]
        assert lines[1].endswith('  log.warn {"msg":"[b]"}')
        assert '✗ event has no string \'file\': {"type": "changed", "[i]": 1}' in lines[2]
        stats = stats_text(pane)
        assert "received 3" in stats and "only for the embedded publisher" in stats
        assert pane.check_action("compose_event", ()) is False, "not offered in the footer"
        await pilot.press("n")
        await wait_for(lambda: app.notices)
        assert "embedded publisher" in app.notices[0]


def test_parse_manual_event() -> None:
    assert parse_manual_event("  ") is None
    assert parse_manual_event("a.txt") == ManualEvent("a.txt", "modified")
    assert parse_manual_event('"a b.txt" created') == ManualEvent("a b.txt", "created")
    assert parse_manual_event("created") == ManualEvent("created", "modified")
    assert parse_manual_event("a moved 'b c'") == ManualEvent("a", "moved", "b c")
    for wrong in ("a.txt chnaged", "a b.txt", "a moved", "a moved b c", "a deleted x", "'a"):
        with pytest.raises(ValueError):
            parse_manual_event(wrong)


def test_format_subscriptions() -> None:
    assert format_subscriptions({}) == "none"
    assert format_subscriptions({topic_for("[a]"): 1, b"{x": 2}) == 'path "[a]" (1), "{x" (2)'
    many = {bytes([65 + n]): 1 for n in range(8)}
    assert format_subscriptions(many, limit=2) == '"A" (1), "B" (1), +6 more'


def stats_on_screen(pane: PublisherPane) -> list[str]:
    """The counter lines as the terminal shows them, at the pane's width."""
    return lines_on_screen(pane.query_one("#publisher-stats", LiveText))


class TestAttachedAt80Columns:
    """At 80x24 the publisher pane is 30 columns wide."""

    async def test_the_pane_names_the_feed_it_lists_among_several(self) -> None:
        app = Host(embedded=False)
        async with app.run_test(size=(30, 20)) as pilot:
            pane = app.pane
            first = replace(capture(event(9, "src/a.txt")), feed="tcp://127.0.0.1:5556")
            app.feed.add("observer", [first])
            pane.show_feeds(("tcp://127.0.0.1:5556", "b", "c"))
            await pilot.pause()
            lines = await wait_for(lambda: (found := stats_on_screen(pane))[1] and found)
            assert lines == ["received 1  rate —/s", "feed ….0.0.1:5556  1 of 3"]

    async def test_an_events_path_is_shown_before_its_time(self) -> None:
        app = Host(embedded=False)
        async with app.run_test(size=(30, 20)):
            pane = app.pane
            app.feed.add("observer", [capture(event(9, "src/a.txt"))])
            lines = await wait_for(lambda: on_screen(pane.log_view))
            assert lines[0] == "#9      modified src/a.txt"


async def test_the_app_tells_the_publisher_pane_how_many_feeds_there_are() -> None:
    app = ZmqtuiApp(FakeBackend(embedded=False), clock=lambda: T0 / 1000)
    async with app.run_test(size=(120, 40)):
        feeds = ("market", "weather")
        app.backend.add("sub", [replace(capture(event(n)), feed=f) for n, f in enumerate(feeds)])
        await wait_for(lambda: app.publisher_pane.feeds == feeds)


async def test_f_lists_the_next_feed_and_the_title_says_which() -> None:
    """Attached to several feeds, `f` cycles the feed the pane lists: the pane and its title
    say the new one at once, before the backend's view confirms it; with one feed `f` is not
    offered."""
    app = ZmqtuiApp(FakeBackend(embedded=False), clock=lambda: T0 / 1000)
    async with app.run_test(size=(120, 40)) as pilot:
        app.backend.add("sub", [replace(capture(event(1)), feed="market")])
        app.backend.add("observer", [replace(capture(event(1)), feed="market")])
        await pilot.press("1")
        assert not app.publisher_pane.check_action("next_feed", ())
        feeds = ("market", "weather", "logs")
        app.backend.add("sub", [replace(capture(event(n)), feed=f) for n, f in enumerate(feeds)])
        await wait_for(lambda: app.publisher_pane.feeds == feeds)
        frame = app.frame("publisher")
        assert frame.border_title == "1 Publisher · feed 1 of 3"
        for chosen, position in (("weather", 2), ("logs", 3), ("market", 1)):
            await pilot.press("f")
            assert app.backend.calls[-1] == ("observe_feed", chosen)
            assert frame.border_title == f"1 Publisher · feed {position} of 3"
            shown = f"feed {chosen}  {position}"  # drawn on the pane's next refresh
            await wait_for(
                lambda shown=shown: stats_on_screen(app.publisher_pane)[1].startswith(shown)
            )
