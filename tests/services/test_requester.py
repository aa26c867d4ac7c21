"""The requester over real sockets: retries, giving up, stale replies, and many in flight."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from helpers import wait_for

from zmqtui.config import MAX_FILE_BYTES
from zmqtui.protocol import ErrorReply, FileReply
from zmqtui.services import sockets
from zmqtui.services.filer import FileRules, serve_files
from zmqtui.services.requester import LoadSummary, Requester, RequestResult, run_load

WAIT = 10.0
"""How long a test waits for something that should happen at once (matters only on failure)."""


@dataclass
class Received:
    identity: bytes
    request: dict


class FakeServer:
    """A ROUTER the test drives by hand: it sees each REQ's identity and replies when told."""

    def __init__(self, sock: zmq.asyncio.Socket) -> None:
        self.sock = sock

    async def receive(self) -> Received:
        identity, _, payload = await asyncio.wait_for(self.sock.recv_multipart(), WAIT)
        return Received(identity, json.loads(payload))

    async def reply(self, to: Received, body: dict | bytes) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        await self.sock.send_multipart([to.identity, b"", payload])

    async def answer(self, to: Received, content: str | None = None, **extra) -> None:
        """A file reply echoing the request's id, with the requested path as content."""
        body = {
            "content": to.request["path"] if content is None else content,
            "timestamp": 1,
            "pid": 42,
            "id": to.request.get("id"),
        }
        await self.reply(to, {**body, **extra})


@pytest.fixture
async def endpoint(ipc_endpoint: Callable[[str], str]) -> str:
    return ipc_endpoint("filer")


@pytest.fixture
async def server(actx: zmq.asyncio.Context, endpoint: str) -> AsyncIterator[FakeServer]:
    sock = actx.socket(zmq.ROUTER)
    sockets.configure(sock)
    sockets.bind(sock, endpoint)
    yield FakeServer(sock)
    sock.close(linger=0)


@pytest.fixture
async def filer(actx: zmq.asyncio.Context, endpoint: str, tmp_path: Path) -> AsyncIterator[str]:
    """A real filer serving `target.txt` at `endpoint`."""
    (tmp_path / "target.txt").write_text("hello\n")
    bound = asyncio.Event()
    task = asyncio.create_task(
        serve_files(actx, endpoint, FileRules(tmp_path), on_bound=lambda _: bound.set())
    )
    await asyncio.wait_for(bound.wait(), WAIT)
    yield endpoint
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def quick(actx: zmq.asyncio.Context, endpoint: str) -> Requester:
    """A requester with short tries, for tests where replies are meant to go missing."""
    return Requester(actx, endpoint, timeout_ms=200, tries=5)


async def finish(task: asyncio.Task[RequestResult]) -> RequestResult:
    return await asyncio.wait_for(task, WAIT)


async def answer_until_done(server: FakeServer, task: asyncio.Task[RequestResult]):
    """Answer every request that arrives until `task` ends (a slow machine may retry more)."""
    while True:
        receiving = asyncio.ensure_future(server.receive())
        await asyncio.wait({task, receiving}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        if receiving.done():
            await server.answer(receiving.result())
            continue
        receiving.cancel()
        await asyncio.gather(receiving, return_exceptions=True)
        return await finish(task)


class TestRequester:
    async def test_file_reply_from_filer(self, actx, filer: str):
        async with Requester(actx, filer) as requester:
            result = await requester.request("target.txt")
        assert result.outcome == "reply" and result.error is None
        assert isinstance(result.reply, FileReply)
        assert (result.reply.content, result.reply.pid) == ("hello\n", os.getpid())
        assert result.reply.id == result.request_id and result.tries == 1
        assert json.loads(result.raw)["content"] == "hello\n"

    async def test_a_file_larger_than_a_request_may_be_arrives_whole(
        self, actx, filer: str, tmp_path: Path
    ):
        """Replies carry files up to the filer's limit (1 MiB), far over the 64 KiB of requests."""
        content = "x\u2713\n" * (MAX_FILE_BYTES // 6)
        (tmp_path / "big.txt").write_text(content)
        async with Requester(actx, filer) as requester:
            result = await requester.request("big.txt")
        assert result.outcome == "reply", result.error
        assert result.reply.content == content

    async def test_error_reply_is_an_answer(self, actx, filer: str):
        async with Requester(actx, filer) as requester:
            result = await requester.request("missing.txt")
            again = await requester.request("target.txt")
        assert result.outcome == "error" and result.tries == 1
        assert isinstance(result.reply, ErrorReply) and result.reply.code == "NOT_FOUND"
        assert again.outcome == "reply" and again.request_id != result.request_id

    async def test_retries_on_a_fresh_socket_after_a_dropped_request(self, server, quick):
        task = asyncio.create_task(quick.request("a.txt"))
        dropped = await server.receive()
        retry = await server.receive()
        assert retry.identity != dropped.identity
        assert retry.request == dropped.request
        await server.answer(retry)
        result = await answer_until_done(server, task)
        quick.close()
        assert result.outcome == "reply" and result.reply.content == "a.txt"
        assert result.tries >= 2

    async def test_unavailable_when_nobody_listens(self, actx, tcp_endpoint):
        requester = Requester(actx, tcp_endpoint(), timeout_ms=200, tries=2)
        result = await requester.request("target.txt")
        requester.close()
        assert result.outcome == "unavailable" and result.reply is None
        assert result.error == "unavailable after 2 tries" and result.tries == 2

    async def test_recovers_when_the_server_comes_up(self, actx, endpoint, quick, tmp_path):
        first = await quick.request("target.txt")
        assert first.outcome == "unavailable"
        (tmp_path / "target.txt").write_text("late\n")
        task = asyncio.create_task(serve_files(actx, endpoint, FileRules(tmp_path)))
        try:
            second = await quick.request("target.txt")
        finally:
            quick.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert second.outcome == "reply" and second.reply.content == "late\n"

    async def test_late_answer_is_not_taken_for_the_next_request(self, server, quick):
        task = asyncio.create_task(quick.request("one"))
        late = await server.receive()
        retry = await server.receive()  # the first try timed out
        await server.answer(late, content="late answer")
        await server.answer(retry)
        first = await answer_until_done(server, task)
        second = await answer_until_done(server, asyncio.create_task(quick.request("two")))
        quick.close()
        assert (first.reply.content, first.reply.id) == ("one", first.request_id)
        assert (second.reply.content, second.reply.id) == ("two", second.request_id)

    async def test_reply_with_another_id_is_discarded(self, server, actx, endpoint):
        requester = Requester(actx, endpoint, timeout_ms=5000, tries=1)
        task = asyncio.create_task(requester.request("one"))
        one = await server.receive()
        await server.answer(one)
        await finish(task)
        task = asyncio.create_task(requester.request("two"))
        two = await server.receive()
        await server.answer(two, content="stale", id=one.request["id"])
        resent = await server.receive()
        assert resent.identity == two.identity and resent.request == two.request
        await server.answer(resent)
        result = await finish(task)
        requester.close()
        assert (result.reply.content, result.discarded, result.tries) == ("two", 1, 1)

    async def test_reply_without_id_is_accepted(self, server, quick):
        task = asyncio.create_task(quick.request("book.txt"))
        received = await server.receive()
        await server.reply(received, {"content": "book", "timestamp": 1, "pid": 7})
        result = await finish(task)
        quick.close()
        assert (result.outcome, result.reply.content, result.reply.id) == ("reply", "book", None)

    async def test_malformed_reply_is_reported_not_retried(self, server, quick):
        task = asyncio.create_task(quick.request("x"))
        await server.reply(await server.receive(), b"garbage")
        result = await finish(task)
        quick.close()
        assert (result.outcome, result.raw, result.tries) == ("malformed", b"garbage", 1)
        assert result.error.startswith("malformed reply")

    async def test_cancelled_request_leaves_a_usable_requester(self, actx, filer, tcp_endpoint):
        requester = Requester(actx, tcp_endpoint(), timeout_ms=5000, tries=1)
        task = asyncio.create_task(requester.request("target.txt"))
        await wait_for(lambda: requester._pirate._sock is not None)  # sent into the void
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        requester._pirate.endpoint = filer
        result = await requester.request("target.txt")
        requester.close()
        assert result.outcome == "reply"

    def test_rejects_nonsense_settings(self, actx):
        with pytest.raises(ValueError):
            Requester(actx, "ipc:///x", tries=0)


class TestRunLoad:
    async def test_keeps_concurrency_in_flight_on_separate_sockets(self, server, actx, endpoint):
        load = asyncio.create_task(run_load(actx, endpoint, "f", 8, 4, timeout_ms=5000, tries=1))
        pids: dict[bytes, int] = {}
        for _ in range(2):
            pending = [await server.receive() for _ in range(4)]  # all four before any reply
            for received in pending:
                pid = pids.setdefault(received.identity, 100 + len(pids))
                await server.answer(received, pid=pid)
        summary = await asyncio.wait_for(load, WAIT)
        assert len(pids) == 4
        assert (summary.sent, summary.replies, summary.unavailable) == (8, 8, 0)
        assert dict(summary.replies_by_pid) == {100: 2, 101: 2, 102: 2, 103: 2}

    async def test_summary_from_filer(self, actx, filer):
        results = []
        ok = await run_load(actx, filer, "target.txt", 20, 3, on_result=results.append)
        bad = await run_load(actx, filer, "missing.txt", 5, 2)
        assert (ok.replies, ok.answered, dict(ok.replies_by_pid)) == (20, 20, {os.getpid(): 20})
        assert not ok.errors_by_code and len(results) == 20
        assert len({r.request_id for r in results}) == 20
        assert ok.rate > 0 and ok.latency["p50"] <= ok.latency["max"]
        assert (bad.replies, dict(bad.errors_by_code)) == (0, {"NOT_FOUND": 5})
        assert dict(bad.replies_by_pid) == {os.getpid(): 5}

    async def test_stops_sending_once_unavailable(self, actx, tcp_endpoint):
        summary = await run_load(actx, tcp_endpoint(), "x", 10, 2, timeout_ms=200, tries=1)
        assert (summary.unavailable, summary.sent, summary.not_sent) == (2, 2, 8)
        assert summary.answered == 0 and summary.latency["p50"] is None

    async def test_concurrency_above_count(self, actx, filer):
        summary = await run_load(actx, filer, "target.txt", 2, 10)
        assert (summary.sent, summary.replies) == (2, 2)

    def test_percentiles_nearest_rank(self):
        summary = LoadSummary(endpoint="e", path="p", count=100, concurrency=1)
        summary.latencies_ms = [float(n) for n in range(100, 0, -1)]
        assert summary.latency == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
        wire = json.loads(json.dumps(summary.to_wire()))
        assert wire["latency_ms"]["p99"] == 99.0 and wire["not_sent"] == 100


@pytest.mark.parametrize(
    ("reply", "raw", "outcome"),
    [
        (FileReply("c", 1, 2), b"{}", "reply"),
        (ErrorReply("NOT_FOUND", "m", 1, 2), b"{}", "error"),
        (None, b"garbage", "malformed"),
        (None, None, "unavailable"),
    ],
)
def test_outcome_follows_from_the_fields(reply, raw, outcome):
    result = RequestResult(path="p", reply=reply, latency_ms=1.0, tries=1, raw=raw)
    assert result.outcome == outcome


async def test_unavailable_says_when_the_peer_never_completes_a_handshake(actx):
    listener = socket.create_server(("127.0.0.1", 0))
    endpoint = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    try:
        async with Requester(actx, endpoint, timeout_ms=200, tries=2) as requester:
            result = await requester.request("a.txt")
    finally:
        listener.close()
    assert result.error is not None
    assert result.error.startswith("unavailable after 2 tries: connected to")
    assert "handshake never completed" in result.error
