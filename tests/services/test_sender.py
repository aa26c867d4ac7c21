"""Sending any message over REQ or DEALER: replies matched to requests, silence, summaries."""

from __future__ import annotations

import asyncio

import pytest
import zmq
import zmq.asyncio

from zmqtui.results import SendResult, SendSummary, error_code, reply_pid
from zmqtui.services import sockets
from zmqtui.services.reqrep import envelope_end
from zmqtui.services.sender import DealerClient, ReqClient, run_send_load


@pytest.fixture
async def router(actx: zmq.asyncio.Context, ipc_endpoint):
    sock = actx.socket(zmq.ROUTER)
    sockets.configure(sock)
    sock.bind(ipc_endpoint("router"))
    yield sock
    sock.close(linger=0)


def endpoint_of(sock: zmq.asyncio.Socket) -> str:
    return sock.getsockopt_string(zmq.LAST_ENDPOINT)


async def echo(router: zmq.asyncio.Socket, count: int) -> None:
    for _ in range(count):
        await router.send_multipart(await router.recv_multipart())


async def test_a_req_client_sends_every_frame_and_takes_the_reply(actx, router):
    async with ReqClient(actx, endpoint_of(router), timeout_ms=5000, tries=1) as client:
        echoing = asyncio.create_task(echo(router, 1))
        result = await asyncio.wait_for(client.request([b"a", b"", b"\x00"]), 5)
        await echoing
    assert result.reply == [b"a", b"", b"\x00"]
    assert (result.outcome, result.tries) == ("reply", 1)


async def test_a_dealer_matches_replies_that_come_back_in_any_order(actx, router):
    async with DealerClient(actx, endpoint_of(router), timeout_ms=5000, tries=1) as client:
        asking = [asyncio.create_task(client.request([str(n).encode()])) for n in range(5)]
        requests = [await asyncio.wait_for(router.recv_multipart(), 5) for _ in range(5)]
        for frames in reversed(requests):
            start = envelope_end(frames)
            assert start == 3  # peer, request id, delimiter
            await router.send_multipart([*frames[:start], b"re:" + frames[start]])
        results = await asyncio.wait_for(asyncio.gather(*asking), 5)
    assert [result.reply for result in results] == [[f"re:{n}".encode()] for n in range(5)]


async def test_a_dealer_discards_a_reply_no_request_waits_for(actx, router):
    async with DealerClient(actx, endpoint_of(router), timeout_ms=5000, tries=1) as client:
        asking = asyncio.create_task(client.request([b"q"]))
        frames = await asyncio.wait_for(router.recv_multipart(), 5)
        await router.send_multipart([frames[0], b"someone else", b"", b"stale"])
        await router.send_multipart([frames[0], b"no envelope"])
        await router.send_multipart([*frames[:3], b"mine"])
        result = await asyncio.wait_for(asking, 5)
    assert result.reply == [b"mine"]
    assert client.discarded == 2


async def test_a_dealer_sends_again_after_a_silent_try_and_gives_up_after_the_last(actx, router):
    async with DealerClient(actx, endpoint_of(router), timeout_ms=100, tries=2) as client:
        result = await asyncio.wait_for(client.request([b"q"]), 5)
        first = await asyncio.wait_for(router.recv_multipart(), 5)
        second = await asyncio.wait_for(router.recv_multipart(), 5)
    assert result.reply is None
    assert (result.outcome, result.tries) == ("unavailable", 2)
    assert first == second  # the same request, with the same id


async def test_a_load_on_one_dealer_counts_pids_and_error_codes(actx, router):
    replies = [b'{"pid": 7}', b'{"error": {"code": "NOT_FOUND"}, "pid": 8}']

    async def answer() -> None:
        for n in range(10):
            frames = await router.recv_multipart()
            await router.send_multipart([*frames[:3], replies[n % 2]])

    answering = asyncio.create_task(answer())
    summary = await asyncio.wait_for(
        run_send_load(actx, endpoint_of(router), [b"q"], 10, 4, kind="DEALER", timeout_ms=5000),
        5,
    )
    await asyncio.wait_for(answering, 5)
    assert (summary.sent, summary.answered, summary.unavailable) == (10, 10, 0)
    assert summary.replies_by_pid == {7: 5, 8: 5}
    assert summary.errors_by_code == {"NOT_FOUND": 5}
    assert summary.to_wire()["socket"] == "DEALER"


async def test_a_load_stops_at_the_first_unanswered_message(actx, ipc_endpoint):
    summary = await asyncio.wait_for(
        run_send_load(actx, ipc_endpoint("nobody"), [b"q"], 5, 1, timeout_ms=50, tries=1),
        5,
    )
    assert (summary.sent, summary.unavailable, summary.not_sent) == (1, 1, 4)
    assert summary.latency == {"p50": None, "p90": None, "p99": None, "max": None}


@pytest.mark.parametrize(
    ("reply", "code", "pid"),
    [
        ([b'{"content": "x", "pid": 42}'], None, 42),
        ([b'{"error": {"code": "BAD_JSON", "message": "m"}, "pid": 1}'], "BAD_JSON", 1),
        ([b'{"error": {"message": "m"}}'], "ERROR", None),
        ([b'{"error": "text"}'], None, None),
        ([b'{"pid": true}'], None, None),
        ([b"not json", b'{"pid": 3}'], None, None),
        ([], None, None),
    ],
)
def test_error_codes_and_pids_are_read_from_a_json_reply(reply, code, pid):
    assert error_code(reply) == code
    assert reply_pid(reply) == pid


def test_a_summary_counts_retries_and_percentiles():
    summary = SendSummary("ipc://x", "REQ", 1, count=4, concurrency=1, sent=4)
    for latency in (1.0, 2.0, 3.0):
        summary.add(SendResult([b"{}"], latency, 1))
    summary.add(SendResult(None, 9.0, 3, handshake_failure="refused"))
    assert summary.latency == {"p50": 2.0, "p90": 3.0, "p99": 3.0, "max": 3.0}
    assert (summary.retries, summary.unavailable, summary.handshake_failure) == (2, 1, "refused")
