"""Text from the wire reaches the screen as plain text: never markup, with controls escaped."""

from __future__ import annotations

import json

import zmq
from fake_backend import FakeBackend, SubscriberHost, capture, detail_text, event
from helpers import bound, wait_for
from textual.widgets import Input
from textual.widgets._toast import Toast
from textual.widgets._tooltip import Tooltip

from zmqtui.tui.app import ConnectionBar, ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.bridge import ZmqBridge
from zmqtui.tui.messages import BackendProblem, ControlAnswered
from zmqtui.tui.panes.composer.paths import complete_path

SIZE = (160, 45)


def toasts(app: ZmqtuiApp) -> list[str]:
    """The text of every notification on screen."""
    return [toast.render().plain for toast in app.screen.query(Toast)]


async def test_notifications_show_peer_text_as_it_came() -> None:
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.post_message(ControlAnswered("scale", {"ok": True, "message": "scaled [/bold] oops"}))
        app.post_message(ControlAnswered("kill", {"ok": False, "error": "[b red]x"}))
        app.post_message(BackendProblem("stats: [link=http://evil]click[/link]", "warning"))
        app.subscriber_pane.notify("export failed: /tmp/[/i]")  # a pane's, via Widget.notify
        await wait_for(lambda: len(toasts(app)) == 4)
        await pilot.pause()
        assert sorted(toasts(app)) == [
            "export failed: /tmp/[/i]",
            "kill: [b red]x",
            "scaled [/bold] oops",
            "stats: [link=http://evil]click[/link]",
        ]


async def test_notifications_escape_terminal_controls() -> None:
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SIZE, notifications=True):
        app.post_message(ControlAnswered("list", {"ok": True, "message": "a\x1b]0;PWNED\x07b\x9b"}))
        await wait_for(lambda: toasts(app))
        assert toasts(app) == ["a\\x1b]0;PWNED\\x07b\\x9b"]


async def test_a_malformed_snapshot_from_a_peer_is_told_as_plain_text(actx, tcp_endpoint) -> None:
    endpoints = Endpoints(stats=tcp_endpoint())
    stats = bound(actx, zmq.PUB, endpoints.stats)
    worker = {"slot": 0, "pid": "[/bold]", "state": "ready"}
    hostile = json.dumps({"pid": 1, "timestamp": 1, "workers": [worker]}).encode()
    app = ZmqtuiApp(ZmqBridge(endpoints, timeout_ms=2000, tries=2))
    async with app.run_test(size=SIZE, notifications=True) as pilot:

        async def told() -> bool:
            await stats.send(hostile)  # a slow joiner misses the first ones
            return any("[/bold]" in text for text in toasts(app))

        deadline = 10
        while not await told():
            await pilot.pause(0.05)
            deadline -= 0.05
            assert deadline > 0, "the malformed snapshot was never told"
        assert app.is_running


async def test_endpoints_and_paths_in_titles_are_plain_text(tmp_path) -> None:
    served = tmp_path / "[/bold]\x1b[2J"
    endpoint = f"ipc://{tmp_path}/[/bold]"
    backend = FakeBackend(endpoints=Endpoints(pub=endpoint, req=endpoint), watch_path=served)
    app = ZmqtuiApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        subtitle = app.frame("subscriber")._border_subtitle
        assert subtitle is not None and subtitle.plain == f"{endpoint} · connected"
        assert "[/bold]\\x1b[2J" in str(app.query_one(ConnectionBar).render())


async def test_the_json_detail_escapes_c1_and_bidi_controls(tmp_path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        app.feed.add("sub", [capture(event(4, file="a\u009b2J\u202eb [b]é.txt"))])
        await wait_for(lambda: '"seq": 4' in detail_text(app, pane))
        await pilot.pause()
        text = detail_text(app, pane)
        assert '"file": "a\\u009b2J\\u202eb [b]é.txt"' in text
        assert "\u009b" not in text and "\u202e" not in text


def test_path_completion_never_offers_a_name_it_could_not_show_as_it_is(tmp_path) -> None:
    (tmp_path / "a\x1b[2J.txt").write_text("x")
    (tmp_path / "a\u202eb.txt").write_text("x")
    assert complete_path(tmp_path, "a") is None
    (tmp_path / "a [b] é.txt").write_text("x")
    assert complete_path(tmp_path, "a") == "a [b] é.txt"


async def test_a_filter_error_naming_markup_is_shown_as_plain_text(tmp_path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 40), tooltips=True) as pilot:
        await pilot.click("#subscriber-filter")
        await pilot.press(*"/(?P<[/b]>x)")
        field = app.query_one("#subscriber-filter", Input)
        assert field.has_class("-invalid")
        await pilot.hover("#subscriber-filter")
        tooltip = app.screen.query_one(Tooltip)
        await wait_for(lambda: tooltip.display)
        await pilot.pause()
        assert "group name '[/b]'" in tooltip.render().plain
