"""The monitor's composer on the real bridge: multi-frame JSON, text and hex messages over REQ
and DEALER to a ROUTER that echoes frames and to our cluster, the replies shown decoded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import zmq
from clusters import ClusterProcess
from helpers import (
    TARGET_TEXT,
    EchoRouter,
    Processes,
    bound,
    composer_sends,
    make_served_root,
    newest_outcome,
    wait_for,
)
from textual.message import Message

from zmqtui.request_spec import RequestSpec
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.bridge import ZmqBridge
from zmqtui.tui.messages import SendFailed

pytestmark = pytest.mark.integration
SIZE = (160, 45)
FRAMES = ('json:{"op": "add", "args": [1, 2]}', "text:[bold]hello[/bold]", "hex:00 01 fe ff")


@pytest.mark.parametrize("socket", ["REQ", "DEALER"])
async def test_a_multi_frame_message_comes_back_decoded_from_an_echo(ctx, ipc_endpoint, socket):
    echo = EchoRouter(ctx, ipc_endpoint("echo"))
    bridge = ZmqBridge(Endpoints(req=echo.endpoint), timeout_ms=5000, tries=1)
    try:
        async with ZmqtuiApp(bridge).run_test(size=SIZE) as pilot:
            shown = await composer_sends(pilot.app, RequestSpec("", FRAMES, socket))
            kept = newest_outcome(pilot.app)
    finally:
        echo.close()
    assert kept is not None and kept.ok and kept.reply.count(" │ ") == 2, kept
    assert "frame 1 json" in shown and '"op": "add"' in shown
    assert "frame 2 text" in shown and "[bold]hello[/bold]" in shown
    assert "frame 3 hex" in shown and "00 01 fe ff" in shown
    assert echo.answered == 1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcess]:
    """One cluster of two workers for both sockets' tests: they only ask it for a file."""
    processes = Processes()
    try:
        served = make_served_root(tmp_path_factory.mktemp("cluster") / "served")
        cluster = ClusterProcess(processes, served, "--workers", "2")
        cluster.wait_ready(2)
        yield cluster
    finally:
        processes.stop_all()


@pytest.mark.parametrize("socket", ["REQ", "DEALER"])
async def test_our_cluster_answers_the_file_request_and_refuses_extra_frames(
    cluster: ClusterProcess, socket
):
    bridge = ZmqBridge(Endpoints(req=cluster.frontend), timeout_ms=5000, tries=2)
    async with ZmqtuiApp(bridge).run_test(size=SIZE) as pilot:
        asked = RequestSpec("", ('json:{"path": "target.txt"}',), socket)
        shown = await composer_sends(pilot.app, asked)
        assert "frame 1 json" in shown
        assert json.dumps(TARGET_TEXT)[1:-1] in shown, shown
        workers = {w["pid"] for w in (await asyncio.to_thread(cluster.listing))["workers"]}
        assert any(f"pid {pid}" in shown for pid in workers), shown

        extra = RequestSpec("", ('json:{"path": "target.txt"}', "text:more", "hex:00"), socket)
        shown = await composer_sends(pilot.app, extra)
        assert "✖ BAD_REQUEST" in shown, shown
        kept = newest_outcome(pilot.app)
        assert kept is not None and kept.error == "error BAD_REQUEST", kept


async def test_a_load_over_dealer_ends_in_its_summary(ctx, ipc_endpoint):
    echo = EchoRouter(ctx, ipc_endpoint("echo"), lambda body: [b'{"pid": 4242}'])
    bridge = ZmqBridge(Endpoints(req=echo.endpoint), timeout_ms=5000, tries=1)
    try:
        async with ZmqtuiApp(bridge).run_test(size=SIZE) as pilot:
            pane = pilot.app.composer_pane
            pane.fill_numbers(50, 8)
            shown = await composer_sends(pilot.app, RequestSpec("", ("text:ping",), "DEALER"))
            kept = newest_outcome(pilot.app)
    finally:
        echo.close()
    assert kept is not None and kept.ok and kept.reply.startswith("50/50 answered"), kept
    assert (kept.count, kept.concurrency) == (50, 8)
    assert "50 × text:ping, 8 at a time" in shown  # noqa: RUF001
    assert "over DEALER" in shown and "answered 50" in shown
    assert "4242" in shown, "answers by pid"
    assert echo.answered == 50


async def test_a_send_that_cannot_start_fails_with_its_reason(tmp_path):
    messages: list[Message] = []
    bridge = ZmqBridge(Endpoints(), timeout_ms=500, tries=1)
    async with ZmqtuiApp(bridge).run_test(size=SIZE, message_hook=messages.append):
        bridge.send_message(RequestSpec("", ("text:hi",), name="hi"), 1, 1, send_id=1)
        unreadable = RequestSpec("ipc:///nowhere", (f"@{tmp_path}/gone.bin",))
        bridge.send_message(unreadable, 5, 2, send_id=2)
        await wait_for(lambda: len({id(m) for m in messages if isinstance(m, SendFailed)}) == 2)
    failed = {m.send_id: m for m in messages if isinstance(m, SendFailed)}
    assert (failed[1].path, failed[1].reason) == ("hi", "no endpoint to send to")
    assert failed[2].count == 5 and "cannot read" in failed[2].reason


async def test_x_cancels_a_message_load_in_flight(actx, ipc_endpoint):
    silent = bound(actx, zmq.ROUTER, ipc_endpoint("silent"))
    bridge = ZmqBridge(Endpoints(req=ipc_endpoint("silent")), timeout_ms=10_000, tries=1)
    try:
        async with ZmqtuiApp(bridge).run_test(size=SIZE) as pilot:
            pane = pilot.app.composer_pane
            await pane.load_request(RequestSpec("", ("text:ping",), "DEALER"))
            pane.fill_numbers(1000, 4)
            pane.action_send()
            assert await silent.poll(5000), "the load started"
            pane.main_control.focus()
            await pilot.press("x")
            await wait_for(lambda: newest_outcome(pilot.app), 10)
            status = str(pane.query_one("#composer-status").render())
            kept = newest_outcome(pilot.app)
    finally:
        silent.close(linger=0)
    assert kept is not None and kept.error == "cancelled"
    assert status.endswith("cancelled after 0 of 1,000"), status
