"""The Conversations view (`v`) and the socket-events log (`l`) on a fake backend."""

from __future__ import annotations

import re
from dataclasses import replace

from fake_backend import EMBEDDED_ENDPOINTS, T0, FakeBackend
from helpers import plain, wait_for
from textual.widgets import Static

from zmqtui.conversations import Conversation, ConversationBook
from zmqtui.socket_events import SocketEvent
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.messages import ConnectionChanged
from zmqtui.tui.views.conversations import NO_TAP, ConversationsScreen
from zmqtui.tui.views.socket_events import EMPTY, SocketEventsScreen

SIZE = (100, 30)
TAP = "tcp://127.0.0.1:60404"


def tapped() -> FakeBackend:
    return FakeBackend(endpoints=replace(EMBEDDED_ENDPOINTS, tap=TAP))


def book(*conversations: Conversation) -> ConversationBook:
    filled = ConversationBook()
    for conversation in conversations:
        filled.add(conversation)
    return filled


def pair(n: int, latency: float | None = 1.5, client: str = "client-1") -> Conversation:
    if latency is None:
        return Conversation(T0 + n, client, f'json:{{"n":{n}}}', None, None, None, "timeout")
    return Conversation(T0 + n, client, f'json:{{"n":{n}}}', f"json:{{'ok':{n}}}", latency, 5101)


def shown(app: ZmqtuiApp, selector: str) -> str:
    return plain(app.screen.query_one(selector, Static).render())


class TestConversationsView:
    async def test_v_opens_it_asks_for_the_rows_that_fit_and_v_closes_it(self) -> None:
        backend = tapped()
        app = ZmqtuiApp(backend)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("v")
            assert isinstance(app.screen, ConversationsScreen)
            await wait_for(lambda: ("view_conversations", 15) in backend.calls)
            backend.show_conversations(book(pair(1), pair(2, None)).view(15))
            await wait_for(lambda: "no reply" in shown(app, "#conversations-pairs"))
            lines = shown(app, "#conversations-pairs").splitlines()
            assert "1.50 ms    5101" in lines[1] and '{"n":1}' in lines[1]
            assert '!! no reply  json:{"n":2}' in lines[2]
            assert "2 pairs · 1 without a reply" in shown(app, "#conversations-totals")
            clients = shown(app, "#latency-clients").splitlines()
            assert clients[1].split() == ["client-1", "2", "1", "1.50", "1.50", "1.50"]
            await pilot.press("v")
            assert not isinstance(app.screen, ConversationsScreen)
            await wait_for(lambda: backend.calls[-1] == ("view_conversations", 0))

    async def test_the_tap_state_is_in_the_title_and_follows_changes(self) -> None:
        backend = tapped()
        app = ZmqtuiApp(backend)
        async with app.run_test(size=SIZE) as pilot:
            app.post_message(ConnectionChanged("tap", "retrying", TAP))
            await pilot.pause()
            await pilot.press("v")
            assert f"tap {TAP} · retrying" in shown(app, "#conversations-title")
            app.post_message(ConnectionChanged("tap", "connected", TAP))
            await wait_for(lambda: "connected" in shown(app, "#conversations-title"))

    async def test_without_a_tap_it_says_how_to_get_one(self) -> None:
        app = ZmqtuiApp(FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("v")
            assert "zmqtui --tap" in shown(app, "#conversations-pairs")
            assert shown(app, "#conversations-pairs").split()[:3] == NO_TAP.split()[:3]

    async def test_a_peer_s_words_are_plain_text(self) -> None:
        backend = tapped()
        app = ZmqtuiApp(backend)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("v")
            hostile = Conversation(T0, "[bold]x\x1b[2J", "text:[red]hi", "text:\u202eok", 2.0, 7)
            backend.show_conversations(book(hostile).view(10))
            await wait_for(lambda: "[bold]x" in shown(app, "#conversations-pairs"))
            text = shown(app, "#conversations-pairs")
            assert "\x1b" not in text and "\u202e" not in text
            assert "text:[red]hi" in text and "[bold]x" in shown(app, "#latency-clients")


class TestSocketEventsLog:
    async def test_l_shows_every_event_since_start_up_and_what_comes_while_open(self) -> None:
        backend = FakeBackend()
        app = ZmqtuiApp(backend)
        async with app.run_test(size=SIZE) as pilot:
            backend.log_socket_events(
                SocketEvent(T0, "req", "tcp://127.0.0.1:60401", "connecting"),
                *(SocketEvent(T0 + n, "req", "tcp://127.0.0.1:60401", "retrying") for n in (1, 2)),
            )
            await pilot.pause()
            await pilot.press("l")
            assert isinstance(app.screen, SocketEventsScreen)
            lines = shown(app, "#socket-events").splitlines()
            assert [line.split()[1:4] for line in lines] == [
                ["req", "tcp://127.0.0.1:60401", "connecting"],
                ["req", "tcp://127.0.0.1:60401", "retrying"],
            ]
            assert re.search(r"retrying \(×2 since \d\d:\d\d:\d\d\)$", lines[1].rstrip())  # noqa: RUF001
            backend.log_socket_events(
                SocketEvent(
                    T0 + 3,
                    "stats",
                    "tcp://127.0.0.1:60402",
                    "handshake failed",
                    "the server's key does not match",
                )
            )
            await wait_for(lambda: "does not match" in shown(app, "#socket-events"))
            assert "handshake failed: the server's key does not match" in shown(
                app, "#socket-events"
            )
            await pilot.press("l")
            assert not isinstance(app.screen, SocketEventsScreen)

    async def test_an_empty_log_says_so(self) -> None:
        app = ZmqtuiApp(FakeBackend())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("l")
            assert shown(app, "#socket-events").strip() == EMPTY


async def test_a_pane_key_or_the_other_view_s_key_leaves_a_view() -> None:
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v", "l")
        assert isinstance(app.screen, SocketEventsScreen) and len(app.screen_stack) == 2
        await pilot.press("v")
        assert isinstance(app.screen, ConversationsScreen) and len(app.screen_stack) == 2
        await pilot.press("3")
        assert len(app.screen_stack) == 1
        assert app.focused is app.composer_pane.main_control
