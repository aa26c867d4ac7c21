"""The app on the real bridge: live sockets in attach mode, and the in-process publisher."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from fake_backend import snapshot
from helpers import bound, newest_outcome, plain, wait_for
from textual.message import Message

from zmqtui.config import FeedConfig
from zmqtui.protocol import MAX_SNAPSHOT_BYTES, ChangeEvent, FileReply, now_ms
from zmqtui.request_spec import RequestSpec
from zmqtui.results import SendResult
from zmqtui.services.stack import EmbeddedStack
from zmqtui.tui import bridge
from zmqtui.tui.app import ConnectionBar, ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.bridge import ZmqBridge
from zmqtui.tui.messages import LoadFinished, LoadProgressed, RequestFinished, SendFailed
from zmqtui.tui.panes.composer import ComposerPane
from zmqtui.tui.panes.publisher import PublisherPane
from zmqtui.tui.panes.subscriber import SubscriberPane
from zmqtui.tui.panes.workers import WorkersPane
from zmqtui.tui.widgets.live_text import LiveText

SIZE = (160, 45)


@contextlib.asynccontextmanager
async def answering(sock: zmq.asyncio.Socket, answer):
    """Run a REP loop on `sock` that answers each request with `answer(request)`."""
    seen: list[dict] = []

    async def serve() -> None:
        while True:
            request = json.loads(await sock.recv())
            seen.append(request)
            await sock.send(answer(request))

    task = asyncio.create_task(serve())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.integration
async def test_attached_to_live_services(actx, tcp_endpoint) -> None:
    endpoints = Endpoints(
        pub=tcp_endpoint(), req=tcp_endpoint(), stats=tcp_endpoint(), control=tcp_endpoint()
    )
    pub = bound(actx, zmq.PUB, endpoints.pub)
    stats = bound(actx, zmq.PUB, endpoints.stats)
    filer = bound(actx, zmq.REP, endpoints.req)
    control = bound(actx, zmq.REP, endpoints.control)
    app = ZmqtuiApp(ZmqBridge(endpoints, timeout_ms=2000, tries=2))

    def file_reply(request: dict) -> bytes:
        return FileReply("hello", now_ms(), 777, request.get("id")).encode()

    def control_reply(request: dict) -> bytes:
        return json.dumps(
            {"ok": True, "message": f"{request['cmd']} {request.get('pid')}"}
        ).encode()

    try:
        async with (
            answering(filer, file_reply) as requests,
            answering(control, control_reply) as commands,
            app.run_test(size=SIZE) as pilot,
        ):
            for socket in ("pub", "sub", "req", "stats", "control"):
                await wait_for(lambda s=socket: app.connection_states[s] == "connected", 10)

            # the subscriber pane and the publisher pane's observer both receive (slow joiner:
            # publish until something arrives)
            seq = 0

            async def published() -> bool:
                nonlocal seq
                seq += 1
                change = ChangeEvent("[bold]a.txt", now_ms(), "modified", seq, "pub1", 1)
                await pub.send(change.encode())
                await pub.send(b"\xff binary")
                return app.subscriber_pane.received > 0 and app.publisher_pane.published > 0

            await wait_for_async(published)
            assert app.subscriber_pane.not_events >= 1

            # prefixes change the live subscription: only paths starting with "b/" now
            app.subscriber_pane.post_message(SubscriberPane.SubscriptionsChanged(("b/",)))
            skip = ChangeEvent("a/skip.txt", now_ms(), "created").encode()
            wanted = ChangeEvent("b/wanted.txt", now_ms(), "created").encode()

            async def filtered() -> bool:
                await pub.send(skip)
                await pub.send(wanted)
                newest = app.subscriber_pane.view.rows[-2:]
                return all(c.event and c.event.file == "b/wanted.txt" for c in newest)

            await wait_for_async(filtered)
            before = app.subscriber_pane.received
            for _ in range(3):
                await pub.send(skip)
            await pub.send(ChangeEvent("b/end.txt", now_ms(), "created").encode())
            await wait_for(lambda: app.subscriber_pane.view.rows[-1].event.file == "b/end.txt")
            arrived = app.subscriber_pane.view.rows[before - app.subscriber_pane.received :]
            assert all(c.event.file.startswith("b/") for c in arrived)

            await stats.send(snapshot().encode())
            await wait_for(lambda: app.workers_pane.snapshot is not None, 10)
            assert app.workers_pane.snapshot == snapshot()

            app.workers_pane.post_message(WorkersPane.KillRequested(5101))
            await wait_for(lambda: commands)
            assert commands[0]["cmd"] == "kill" and commands[0]["pid"] == 5101

            results = []
            app.composer_pane.show_result = lambda result, send_id: results.append(
                (result, send_id)
            )
            app.composer_pane.post_message(ComposerPane.SendRequested("a.txt", 1, 1, 5))
            await wait_for(lambda: results, 10)
            result, send_id = results[0]
            assert result.reply.content == "hello" and result.reply.pid == 777 and send_id == 5
            assert requests[0]["path"] == "a.txt"
            await pilot.press("q")
    finally:
        for sock in (pub, stats, filer, control):
            sock.close(linger=0)


async def wait_for_async(step, timeout: float = 10.0, every: float = 0.1) -> None:
    """Run `step()` (a coroutine function returning bool) until it returns True."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await step():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


def posted(messages: list[Message], kind: type[Message]) -> list:
    """Messages of `kind` in the order the app handled them, each once."""
    return list({id(m): m for m in messages if isinstance(m, kind)}.values())


async def test_each_outcome_and_progress_carries_the_id_of_its_send(actx, tcp_endpoint) -> None:
    """Two identical requests answered in reverse order, then two load runs at once: every
    message the bridge posts says which send it belongs to."""
    endpoint = tcp_endpoint()
    filer = bound(actx, zmq.ROUTER, endpoint)
    bridge = ZmqBridge(Endpoints(req=endpoint), timeout_ms=10_000, tries=1)
    app = ZmqtuiApp(bridge)
    messages: list[Message] = []

    async def request() -> tuple[list[bytes], dict]:
        assert await filer.poll(10_000), "no request arrived"
        *envelope, body = await filer.recv_multipart()
        return envelope, json.loads(body)

    def reply(envelope: list[bytes], request: dict, content: str) -> list[bytes]:
        return [*envelope, FileReply(content, now_ms(), 777, request["id"]).encode()]

    try:
        async with app.run_test(size=SIZE, message_hook=messages.append):
            bridge.send_request("a.txt", 1, 1, send_id=1)
            first = await request()
            bridge.send_request("a.txt", 1, 1, send_id=2)
            second = await request()
            await filer.send_multipart(reply(*second, "to the second"))
            await filer.send_multipart(reply(*first, "to the first"))
            await wait_for(lambda: len(posted(messages, RequestFinished)) == 2, 10)
            assert [
                (m.send_id, m.result.reply.content) for m in posted(messages, RequestFinished)
            ] == [
                (2, "to the second"),
                (1, "to the first"),
            ]

            bridge.send_request("a.txt", 3, 1, send_id=3)
            bridge.send_request("b.txt", 2, 2, send_id=4)
            for _ in range(5):
                envelope, asked = await request()
                await filer.send_multipart(reply(envelope, asked, asked["path"]))
            await wait_for(lambda: len(posted(messages, LoadFinished)) == 2, 10)
            summaries = {m.send_id: m.summary for m in posted(messages, LoadFinished)}
            assert (summaries[3].path, summaries[3].replies) == ("a.txt", 3)
            assert (summaries[4].path, summaries[4].replies) == ("b.txt", 2)
            progress = posted(messages, LoadProgressed)
            assert {(m.send_id, m.total) for m in progress} == {(3, 3), (4, 2)}
            last = {m.send_id: m.done for m in progress}
            assert last == {3: 3, 4: 2}, "one run's progress never stands in for the other's"
    finally:
        filer.close(linger=0)


async def test_a_send_that_cannot_run_or_breaks_is_told_as_failed(monkeypatch, tcp_endpoint):
    async def broken_load(*args, **kwargs):
        raise RuntimeError("the requester broke")

    monkeypatch.setattr(bridge, "run_load", broken_load)
    messages: list[Message] = []
    nowhere = ZmqBridge(Endpoints())
    async with ZmqtuiApp(nowhere).run_test(size=SIZE, message_hook=messages.append):
        nowhere.send_request("a.txt", 1, 1, send_id=1)
        await wait_for(lambda: posted(messages, SendFailed))
    broken = ZmqBridge(Endpoints(req=tcp_endpoint()))
    async with ZmqtuiApp(broken).run_test(size=SIZE, message_hook=messages.append):
        broken.send_request("b.txt", 5, 2, send_id=2)
        await wait_for(lambda: len(posted(messages, SendFailed)) == 2)
    assert [(m.send_id, m.path, m.count, m.reason) for m in posted(messages, SendFailed)] == [
        (1, "a.txt", 1, "no --req endpoint given"),
        (2, "b.txt", 5, "RuntimeError: the requester broke"),
    ]


async def test_a_sends_failed_handshake_is_in_the_socket_events_log(monkeypatch, tcp_endpoint):
    """The composer's sends to any endpoint: a refused handshake is logged as `send`, with why
    (the req probe's log covers only the --req endpoint)."""

    class Refused:
        async def request(self, frames):
            return SendResult(None, 7500.0, 3, handshake_failure="the server's key does not match")

        def close(self) -> None:
            pass

    monkeypatch.setattr(bridge, "open_client", lambda *args, **kwargs: Refused())
    elsewhere = tcp_endpoint()
    backend = ZmqBridge(Endpoints())
    app = ZmqtuiApp(backend)
    async with app.run_test(size=SIZE):
        backend.send_message(RequestSpec(elsewhere, ("text:hi",)), 1, 1, send_id=1)
        await wait_for(lambda: any(e.socket == "send" for e in app.socket_events))
    (event,) = [e for e in app.socket_events if e.socket == "send"]
    assert (event.endpoint, event.event, event.detail) == (
        elsewhere,
        "handshake failed",
        "the server's key does not match",
    )


async def test_a_service_down_at_start_is_retried(actx, tcp_endpoint) -> None:
    endpoint = tcp_endpoint()
    app = ZmqtuiApp(ZmqBridge(Endpoints(stats=endpoint)))
    async with app.run_test(size=SIZE):
        await wait_for(lambda: app.connection_states["stats"] == "retrying", 10)
        assert app.workers_pane.has_class("-offline")
        assert app.connection_states["req"] == "off"
        stats = bound(actx, zmq.PUB, endpoint)
        try:
            await wait_for(lambda: app.connection_states["stats"] == "connected", 10)

            async def snapshot_shown() -> bool:
                await stats.send(snapshot().encode())
                return app.workers_pane.snapshot is not None

            await wait_for_async(snapshot_shown)
            assert not app.workers_pane.has_class("-offline")
        finally:
            stats.close(linger=0)
        await wait_for(lambda: app.connection_states["stats"] != "connected", 10)


async def test_the_stats_sub_connects_again_after_an_oversized_snapshot(actx, tcp_endpoint) -> None:
    """libzmq ends a session for good on a message over MAXMSGSIZE: the bridge says so and
    connects again, so the next snapshot is shown."""
    told: list[str] = []

    class TellingApp(ZmqtuiApp):
        def notify(self, message: str, **kwargs) -> None:
            told.append(message)
            super().notify(message, **kwargs)

    endpoint = tcp_endpoint()
    stats = bound(actx, zmq.PUB, endpoint)
    app = TellingApp(ZmqBridge(Endpoints(stats=endpoint)))
    try:
        async with app.run_test(size=SIZE):

            async def shown(seq: int) -> bool:
                await stats.send(replace(snapshot(), seq=seq).encode())
                current = app.workers_pane.snapshot
                return current is not None and current.seq == seq

            await wait_for_async(lambda: shown(1))
            await stats.send(b"x" * (MAX_SNAPSHOT_BYTES + 1))
            await wait_for(lambda: any("gave it up" in text for text in told), 10)
            await wait_for_async(lambda: shown(2))
    finally:
        stats.close(linger=0)


@pytest.mark.integration
async def test_embedded_publisher_in_process(tmp_path: Path, tcp_endpoint) -> None:
    endpoint = tcp_endpoint()
    bridge = ZmqBridge(Endpoints(pub=endpoint), stack=EmbeddedStack(tmp_path, endpoint))
    app = ZmqtuiApp(bridge)
    async with app.run_test(size=SIZE) as pilot:
        publisher = app.publisher_pane
        # the subscriber pane's own SUB socket is the publisher's one subscriber
        await wait_for(lambda: publisher.subscribers == 1 and publisher.subscriptions, 10)
        assert publisher.subscriptions == {b"": 1}
        publisher.post_message(PublisherPane.PublishRequested("by/hand.txt", "deleted"))
        await wait_for(lambda: publisher.published == 1, 10)
        await wait_for(lambda: app.subscriber_pane.received == 1, 10)
        assert app.subscriber_pane.view.rows[0].event.file == "by/hand.txt"
        (tmp_path / "new.txt").write_text("x")
        await wait_for(lambda: app.subscriber_pane.received >= 2, 10)
        assert any(
            c.event.file.endswith("new.txt") for c in app.subscriber_pane.view.rows if c.event
        )
        await pilot.press("q")
    assert bridge.publisher is None


class ExitingStack(EmbeddedStack):
    """An embedded stack whose publisher cannot bind and whose cluster has already exited."""

    async def start_publisher(self, ctx, on_failed) -> None:
        on_failed(self.pub, "cannot bind")


class ExitingCluster:
    """Stands in for `EmbeddedCluster`: a process that has already exited."""

    process = None

    def start(self) -> None:
        pass

    def poll(self) -> int:
        return 3

    def log_tail(self) -> str:
        return "zmqtui: tcp://127.0.0.1:60401 is already in use by another process"


async def test_failures_are_told_and_the_monitor_keeps_running(tcp_endpoint) -> None:
    told: list[str] = []

    class TellingApp(ZmqtuiApp):
        def notify(self, message: str, **kwargs) -> None:
            told.append(message)
            super().notify(message, **kwargs)

    stack = ExitingStack(Path("."), tcp_endpoint(), ExitingCluster())  # type: ignore[arg-type]
    app = TellingApp(ZmqBridge(Endpoints(req=tcp_endpoint()), stack=stack))
    async with app.run_test(size=SIZE):
        bar = app.query_one(ConnectionBar)
        await wait_for(lambda: "the cluster exited (exit code 3)" in bar.mode)
        assert any("already in use" in text for text in told)
        # a worker that raises (run_load refuses a concurrency of 0) is told, not fatal
        app.composer_pane.post_message(ComposerPane.SendRequested("a.txt", 2, 0))
        await wait_for(lambda: any("failed: ValueError" in text for text in told))
        assert app.is_running


async def test_control_commands_use_the_configured_tries(actx, tcp_endpoint) -> None:
    told: list[str] = []

    class TellingApp(ZmqtuiApp):
        def notify(self, message: str, **kwargs) -> None:
            told.append(message)
            super().notify(message, **kwargs)

    endpoint = tcp_endpoint()
    silent = bound(actx, zmq.ROUTER, endpoint)  # takes requests, never answers
    bridge = ZmqBridge(Endpoints(control=endpoint), timeout_ms=200, tries=1)
    app = TellingApp(bridge)
    try:
        async with app.run_test(size=SIZE):
            bridge.control("list")
            await wait_for(lambda: any(text.startswith("list:") for text in told), 10)
            received = 0
            while await silent.poll(0):
                await silent.recv_multipart()
                received += 1
            assert received == 1
    finally:
        silent.close(linger=0)


@pytest.mark.integration
async def test_attached_one_sub_feeds_both_panes_whatever_the_prefixes(actx, tcp_endpoint) -> None:
    """Attached, one SUB socket takes in the feed for both panes (each message received once):
    it subscribes to everything, for the publisher pane; the subscriber pane's prefixes select
    what it lists on the ingest side."""
    endpoint = tcp_endpoint()
    xpub = bound(actx, zmq.XPUB, endpoint)
    xpub.setsockopt(zmq.XPUB_VERBOSE, 1)
    app = ZmqtuiApp(ZmqBridge(Endpoints(pub=endpoint)))

    async def subscription() -> bytes:
        assert await xpub.poll(10_000), "no subscription arrived"
        return await xpub.recv()

    def pending_subscriptions() -> list[bytes]:
        plain = zmq.Socket.shadow(xpub.underlying)
        found = []
        while plain.poll(0):
            found.append(plain.recv())
        return found

    def listed(rows: list) -> set[str]:
        return {c.event.file for c in rows if c.event}

    try:
        async with app.run_test(size=SIZE) as pilot:
            sub, pub = app.subscriber_pane, app.publisher_pane
            assert await subscription() == b"\x01"
            await wait_for(lambda: app.connection_states["sub"] == "connected", 10)

            async def both_receive(file: str) -> bool:
                await xpub.send(ChangeEvent(file, now_ms(), "created").encode())
                return file in listed(sub.view.rows) and file in listed(pub.log_view.ring.rows)

            await wait_for_async(lambda: both_receive("a/first.txt"))
            assert pending_subscriptions() == []  # one SUB socket, subscribed once
            assert sub.received == pub.published

            sub.post_message(SubscriberPane.SubscriptionsChanged(("b/",)))
            await wait_for_async(lambda: both_receive("b/second.txt"))
            for index in range(5):
                await xpub.send(ChangeEvent(f"a/{index}.txt", now_ms(), "created").encode())
            await xpub.send(ChangeEvent("b/third.txt", now_ms(), "created").encode())
            await wait_for(lambda: "b/third.txt" in listed(pub.log_view.ring.rows), 10)
            await wait_for(lambda: "b/third.txt" in listed(sub.view.rows), 10)
            assert {f"a/{index}.txt" for index in range(5)} <= listed(pub.log_view.ring.rows)
            assert not {f"a/{index}.txt" for index in range(5)} & listed(sub.view.rows)
            assert pending_subscriptions() == []  # the socket's subscription never changed
            await pilot.press("q")
    finally:
        xpub.close(linger=0)


LONG_LOAD = 100_000
"""More requests than a loopback filer answers while a test runs."""


async def test_quit_during_a_load_run_stops_it_at_once(actx, tcp_endpoint) -> None:
    """A long load run on a filer that answers at once: `q` ends the app and the load with it
    (a cancelled send that had completed used to be swallowed, and the app waited for the
    whole run)."""
    endpoint = tcp_endpoint()
    filer = bound(actx, zmq.REP, endpoint)
    app = ZmqtuiApp(ZmqBridge(Endpoints(req=endpoint), timeout_ms=2000, tries=2))

    def file_reply(request: dict) -> bytes:
        return FileReply("hello", now_ms(), 777, request.get("id")).encode()

    try:
        async with answering(filer, file_reply) as requests:
            async with app.run_test(size=SIZE) as pilot:
                app.composer_pane.fill("hello.txt", LONG_LOAD, 16)
                app.composer_pane.action_send()
                await wait_for(lambda: len(requests) > 500, 20)
                await pilot.press("q")
            served = len(requests)
            await asyncio.sleep(0.3)
            assert len(requests) == served, "the load kept sending after the app ended"
            assert served < LONG_LOAD / 2
    finally:
        filer.close(linger=0)


async def test_a_load_run_is_cancelled_by_its_key(actx, tcp_endpoint) -> None:
    """`x` in the requests pane stops the load run in flight and says so; the app keeps
    running and the next send goes out."""
    endpoint = tcp_endpoint()
    filer = bound(actx, zmq.REP, endpoint)
    app = ZmqtuiApp(ZmqBridge(Endpoints(req=endpoint), timeout_ms=2000, tries=2))

    def file_reply(request: dict) -> bytes:
        return FileReply("hello", now_ms(), 777, request.get("id")).encode()

    try:
        async with (
            answering(filer, file_reply) as requests,
            app.run_test(size=SIZE) as pilot,
        ):
            composer = app.composer_pane
            composer.fill("hello.txt", LONG_LOAD, 16)
            composer.action_send()
            await wait_for(lambda: len(requests) > 500, 20)
            await pilot.press("3", "x")
            await wait_for(lambda: newest_outcome(app), 10)
            assert newest_outcome(app).error == "cancelled"
            served = len(requests)
            await asyncio.sleep(0.3)
            assert len(requests) <= served + 16, "the load kept sending after its cancel"
            composer.fill("hello.txt")
            composer.action_send()
            await wait_for(lambda: (kept := newest_outcome(app)) and kept.ok, 10)
    finally:
        filer.close(linger=0)


@pytest.mark.integration
async def test_an_ingest_process_that_dies_is_told(tcp_endpoint) -> None:
    told: list[str] = []

    class TellingApp(ZmqtuiApp):
        def notify(self, message: str, **kwargs) -> None:
            told.append(message)
            super().notify(message, **kwargs)

    bridge = ZmqBridge(Endpoints(pub=tcp_endpoint()))
    app = TellingApp(bridge)
    async with app.run_test(size=SIZE):
        await wait_for(lambda: bridge._ingest is not None and bridge._ingest.process, 10)
        bridge._ingest.process.kill()
        await wait_for(lambda: any("ended: nothing more is received" in t for t in told), 10)
        assert app.connection_states["sub"] == "failed" and app.is_running


@pytest.mark.integration
async def test_attached_to_several_feeds(actx, ipc_endpoint) -> None:
    """Two feeds, one SUB each: the subscriber pane merges them, each row naming its feed; its
    frame shows the worse state of the two until both are up; the publisher pane lists the
    first feed alone, and the second after `f`."""
    market, logs = ipc_endpoint("market"), ipc_endpoint("logs")
    feeds = [FeedConfig("market", market), FeedConfig("logs", logs)]
    app = ZmqtuiApp(ZmqBridge(Endpoints(pub=market), feeds=feeds))
    first = bound(actx, zmq.PUB, market)
    second = None
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: app.connection_states.get("pub") == "connected", 10)
            assert app.connection_endpoints["sub"] == "2 feeds"
            assert app.connection_states["sub"] != "connected", "logs is not up yet"
            second = bound(actx, zmq.PUB, logs)
            await wait_for(lambda: app.connection_states["sub"] == "connected", 10)

            async def both_listed() -> bool:
                await first.send_multipart([b"md.A", b'{"bid": 1}'])
                await second.send_multipart([b"log.warn", b'{"level": "warn"}'])
                rows = app.subscriber_pane.view.rows
                return {"market", "logs"} <= {row.feed for row in rows}

            await wait_for_async(both_listed)
            assert [f.name for f in app.subscriber_pane.view.feeds] == ["market", "logs"]
            await wait_for(  # the publisher pane counts the first feed's messages alone
                lambda: app.publisher_pane.published == app.subscriber_pane.view.feeds[0].received
            )

            await pilot.press("1", "f")
            await wait_for(lambda: app.connection_endpoints["pub"] == logs)

            async def logs_listed() -> bool:
                await second.send_multipart([b"log.info", b'{"level": "info"}'])
                pane = app.publisher_pane
                rows = [row for row in pane.log_view.ring.rows if row is not None]
                return pane.observed is not None and pane.observed.name == "logs" and bool(rows)

            await wait_for_async(logs_listed)
            rows = [row for row in app.publisher_pane.log_view.ring.rows if row is not None]
            assert {row.feed for row in rows} == {"logs"}
            assert app.frame("publisher").border_title == "1 Publisher · feed 2 of 2"
    finally:
        first.close(linger=0)
        if second is not None:
            second.close(linger=0)


@pytest.mark.integration
async def test_a_message_over_a_feeds_limit_is_counted_on_screen(actx, ipc_endpoint) -> None:
    """libzmq drops the session of a message over the feed's limit: the pane counts it, a
    notification says so, and the feed is taken in again."""
    told: list[str] = []

    class TellingApp(ZmqtuiApp):
        def notify(self, message: str, **kwargs) -> None:
            told.append(message)
            super().notify(message, **kwargs)

    endpoint = ipc_endpoint("small")
    feeds = [FeedConfig("small", endpoint, max_message_bytes=1000)]
    app = TellingApp(ZmqBridge(Endpoints(pub=endpoint), feeds=feeds))
    pub = bound(actx, zmq.PUB, endpoint)
    try:
        async with app.run_test(size=SIZE):
            pane = app.subscriber_pane

            async def listed(payload: bytes) -> bool:
                await pub.send_multipart([b"t", payload])
                return any(row.summary == payload.decode() for row in pane.view.rows)

            await wait_for_async(lambda: listed(b"before"))
            await pub.send_multipart([b"t", b"x" * 2000])
            await wait_for_async(lambda: listed(b"after"))
            stats = plain(pane.query_one("#subscriber-stats", LiveText).text)
            assert "⚠ 1 over 1000B" in stats
            assert any("small: " in text and "gave it up" in text for text in told)
    finally:
        pub.close(linger=0)
