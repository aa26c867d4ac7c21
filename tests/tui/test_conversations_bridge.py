"""The Conversations view and the socket-events log on the real bridge: a tap in this process,
a client through it, the pairs read from the tap's capture side."""

from __future__ import annotations

import pytest
import zmq
from helpers import EchoRouter, plain, wait_for
from textual.widgets import Static

from zmqtui.services.tap import PairPublisher, Tap
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.bridge import ZmqBridge
from zmqtui.tui.views.conversations import ConversationsScreen

SIZE = (120, 30)


def logged(app: ZmqtuiApp) -> set[tuple[str, str]]:
    return {(event.socket, event.event) for event in app.socket_events}


@pytest.mark.integration
async def test_pairs_through_a_tap_are_listed_and_its_socket_logged(ctx, ipc_endpoint) -> None:
    echo = EchoRouter(ctx, ipc_endpoint("echo"), lambda body: [b'{"ok": 1, "pid": 4242}'])
    tap = Tap(ctx, ipc_endpoint("tap"), echo.endpoint)
    publisher = PairPublisher(ctx, ipc_endpoint("pairs"))
    client = ctx.socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    app = ZmqtuiApp(ZmqBridge(Endpoints(req=tap.start(), tap=publisher.bound)))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: app.connection_states.get("tap") == "connected", 10)
            await wait_for(lambda: ("req", "connected") in logged(app), 10)
            assert {("tap", "connecting"), ("tap", "connected")} <= logged(app)
            await pilot.press("v")
            assert isinstance(app.screen, ConversationsScreen)
            client.connect(tap.bound)
            client.send(b"[bold]hello")
            assert await wait_for(lambda: client.poll(0), 5)
            assert client.recv() == b'{"ok": 1, "pid": 4242}'

            def listed() -> str:
                publisher.publish(tap.drain())
                return plain(app.screen.query_one("#conversations-pairs", Static).render())

            text = await wait_for(lambda: "4242" in listed() and listed(), 10)
            assert 'text:[bold]hello → json:{"ok": 1, "pid": 4242}' in text
            workers = plain(app.screen.query_one("#latency-workers", Static).render())
            assert workers.splitlines()[1].split()[:3] == ["4242", "1", "0"]
    finally:
        client.close(linger=0)
        tap.stop()
        publisher.close()
        echo.close()
