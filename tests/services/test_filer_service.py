"""The REP responder over real sockets: one reply per request, and serving on after garbage."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from helpers import TARGET_TEXT, wait_for

from zmqtui.protocol import MAX_MESSAGE_BYTES
from zmqtui.services import sockets
from zmqtui.services.filer import Answer, FileRules, serve_files

WAIT_MS = 10_000
BURST = 64
"""Requests each peer queues before the responder looks."""
"""How long a test waits for a reply that should come at once (matters only on failure)."""


@pytest.fixture
async def filer(
    actx: zmq.asyncio.Context, ipc_endpoint: Callable[[str], str], served_root: Path
) -> AsyncIterator[tuple[str, list[Answer]]]:
    """A running `serve_files` on ipc, and the answers it has sent so far."""
    answers: list[Answer] = []
    bound: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_files(
            actx,
            ipc_endpoint("filer"),
            FileRules(served_root),
            on_bound=bound.set_result,
            on_answer=answers.append,
        )
    )
    endpoint = await asyncio.wait_for(bound, WAIT_MS / 1000)
    yield endpoint, answers
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def exchange(
    actx: zmq.asyncio.Context, endpoint: str, frames: list[bytes], kind: int = zmq.REQ
) -> dict:
    """Send `frames` from a fresh socket and return the one reply, decoded."""
    sock = actx.socket(kind)
    try:
        sockets.configure(sock, max_message_bytes=None)
        sockets.connect(sock, endpoint)
        await sock.send_multipart(frames)
        assert await sock.poll(WAIT_MS, zmq.POLLIN), f"no reply to {frames!r}"
        reply = await sock.recv_multipart()
        if kind == zmq.DEALER:
            assert reply[0] == b""
            reply = reply[1:]
        assert len(reply) == 1
        return json.loads(reply[0])
    finally:
        sock.close(linger=0)


async def test_serves_a_file(actx, filer):
    endpoint, answers = filer
    reply = await exchange(actx, endpoint, [b'{"path": "target.txt", "id": "a"}'])
    assert (reply["content"], reply["pid"], reply["id"]) == (TARGET_TEXT, os.getpid(), "a")
    await wait_for(lambda: answers)  # on_answer runs after the send
    assert answers[0].ok and answers[0].request.path == "target.txt"


async def test_one_reply_per_bad_request_then_serves_on(actx, filer):
    endpoint, answers = filer
    bad = [
        ([b""], "BAD_JSON"),
        ([b"\x00\xff garbage"], "BAD_JSON"),
        ([b"[]"], "BAD_REQUEST"),
        ([b'{"path": "target.txt"}', b"extra"], "BAD_REQUEST"),
        ([b"", b""], "BAD_REQUEST"),
        ([b'{"path": "../etc/passwd", "id": "t"}'], "OUTSIDE_ROOT"),
        ([b'{"path": "nope"}'], "NOT_FOUND"),
    ]
    sock = actx.socket(zmq.REQ)
    sockets.configure(sock)
    sockets.connect(sock, endpoint)
    try:
        for frames, code in [*bad, ([b'{"path": "target.txt"}'], None)]:
            await sock.send_multipart(frames)
            assert await sock.poll(WAIT_MS, zmq.POLLIN), f"no reply to {frames!r}"
            reply = json.loads(await sock.recv())
            if code is None:
                assert reply["content"] == TARGET_TEXT
            else:
                assert reply["error"]["code"] == code, (frames, reply)
    finally:
        sock.close(linger=0)
    await wait_for(lambda: len(answers) == len(bad) + 1)  # on_answer runs after the send
    assert [a.ok for a in answers] == [False] * len(bad) + [True]


async def test_dealer_peer_gets_the_same_answers(actx, filer):
    endpoint, _ = filer
    reply = await exchange(actx, endpoint, [b"", b'{"path": "target.txt"}'], kind=zmq.DEALER)
    assert reply["content"] == TARGET_TEXT


async def test_oversized_request_is_dropped_and_service_goes_on(actx, filer):
    endpoint, answers = filer
    sock = actx.socket(zmq.REQ)
    sockets.configure(sock, max_message_bytes=None)
    sockets.connect(sock, endpoint)
    try:
        await sock.send(json.dumps({"path": "x" * (MAX_MESSAGE_BYTES + 10)}).encode())
        assert not await sock.poll(300, zmq.POLLIN)  # its connection was dropped instead
    finally:
        sock.close(linger=0)
    reply = await exchange(actx, endpoint, [b'{"path": "target.txt"}'])
    assert reply["content"] == TARGET_TEXT
    await wait_for(lambda: answers)
    assert len(answers) == 1


async def test_binds_a_random_tcp_port(actx, served_root):
    bound: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_files(actx, "tcp://127.0.0.1:*", FileRules(served_root), on_bound=bound.set_result)
    )
    try:
        endpoint = await asyncio.wait_for(bound, WAIT_MS / 1000)
        assert endpoint.startswith("tcp://127.0.0.1:") and not endpoint.endswith("*")
        reply = await exchange(actx, endpoint, [b'{"path": "target.txt"}'])
        assert reply["content"] == TARGET_TEXT
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_refuses_a_public_bind_unless_asked(actx, served_root):
    with pytest.raises(sockets.EndpointError, match="loopback"):
        await serve_files(actx, "tcp://0.0.0.0:*", FileRules(served_root))


async def test_cancel_closes_the_socket_and_frees_the_endpoint(actx, served_root, ipc_endpoint):
    endpoint = ipc_endpoint("again")
    for _ in range(2):
        bound: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(
            serve_files(actx, endpoint, FileRules(served_root), on_bound=bound.set_result)
        )
        await asyncio.wait({task, bound}, timeout=WAIT_MS / 1000, return_when="FIRST_COMPLETED")
        assert bound.done(), task
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert task.cancelled()
        # libzmq closes the listener in its I/O thread, a moment after close() returns
        await wait_for(lambda: not listening(sockets.ipc_path(endpoint)))


async def test_what_on_answer_raises_ends_the_service(actx, served_root, ipc_endpoint):
    def explode(answer: Answer) -> None:
        raise RuntimeError("on_answer failed")

    endpoint = ipc_endpoint("explode")
    bound: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_files(
            actx, endpoint, FileRules(served_root), on_bound=bound.set_result, on_answer=explode
        )
    )
    await asyncio.wait_for(bound, WAIT_MS / 1000)
    reply = await exchange(actx, endpoint, [b'{"path": "target.txt"}'])  # sent before on_answer
    assert reply["content"] == TARGET_TEXT
    with pytest.raises(RuntimeError, match="on_answer failed"):
        await asyncio.wait_for(task, WAIT_MS / 1000)
    await wait_for(lambda: not listening(sockets.ipc_path(endpoint)))


async def test_a_queued_burst_from_several_peers_is_answered_in_full(actx, served_root):
    """A burst of requests, bad ones among them, all queued before the responder looks: every
    peer gets one reply per request with an envelope, in its order."""
    endpoint = "inproc://filer-burst"
    answers: list[Answer] = []
    bound: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve_files(
            actx,
            endpoint,
            FileRules(served_root),
            on_bound=bound.set_result,
            on_answer=answers.append,
        )
    )
    peers = [actx.socket(zmq.DEALER) for _ in range(3)]
    try:
        await asyncio.wait_for(bound, WAIT_MS / 1000)
        expected: list[list[tuple[str, str | None]]] = [[] for _ in peers]
        for peer in peers:
            sockets.configure(peer)
            sockets.connect(peer, endpoint)
        # inproc queues on send, and nothing here yields to the loop: the responder finds all
        # of it waiting
        for n in range(BURST):
            for i, peer in enumerate(peers):
                send = zmq.Socket.shadow(peer).send_multipart
                request_id = f"{i}-{n}"
                envelope = [request_id.encode(), b""] if i == 0 else [b""]
                if n % 10 == 3:
                    send([b"no envelope, no reply"])
                    continue
                path, code = ("nope", "NOT_FOUND") if n % 10 == 5 else ("target.txt", None)
                body = json.dumps({"path": path, "id": request_id}).encode()
                if n % 10 == 7:
                    body, code = b"{not json", "BAD_JSON"
                send([*envelope, body])
                expected[i].append((request_id, code))
        for i, peer in enumerate(peers):
            got = []
            for request_id, code in expected[i]:
                assert await peer.poll(WAIT_MS, zmq.POLLIN), f"peer {i}: no reply for {request_id}"
                *envelope, body = await peer.recv_multipart()
                assert envelope == ([request_id.encode(), b""] if i == 0 else [b""])
                reply = json.loads(body)
                if code is None:
                    assert reply["content"] == TARGET_TEXT
                    got.append((reply["id"], None))
                elif code == "BAD_JSON":  # no id to echo
                    got.append((request_id, reply["error"]["code"]) if "id" not in reply else reply)
                else:
                    got.append((reply["id"], reply["error"]["code"]))
            assert got == expected[i]
            assert not await peer.poll(100, zmq.POLLIN)  # and nothing more
        assert len(answers) == sum(map(len, expected)) > 2 * BURST
    finally:
        for peer in peers:
            peer.close(linger=0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def listening(path: str) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:
            return False
        return True


@pytest.mark.parametrize(
    "frames", [[b"no envelope"], [b'{"path": "target.txt"}'], [b"a", b"b", b"c"]]
)
async def test_a_message_without_envelope_is_dropped_and_service_goes_on(actx, filer, frames):
    """REP reports such a message ready, then drops it: the receive must not end the loop."""
    endpoint, answers = filer
    dealer = actx.socket(zmq.DEALER)
    sockets.configure(dealer)
    sockets.connect(dealer, endpoint)
    try:
        await dealer.send_multipart(frames)
        assert not await dealer.poll(300, zmq.POLLIN)  # nobody to answer
    finally:
        dealer.close(linger=0)
    reply = await exchange(actx, endpoint, [b'{"path": "target.txt"}'])
    assert reply["content"] == TARGET_TEXT
    await wait_for(lambda: answers)
    assert len(answers) == 1


def zmtp_dealer_greeting() -> bytes:
    """What a ZMTP 3.0 DEALER peer says before its first message: greeting, then READY."""
    greeting = b"\xff" + bytes(8) + b"\x7f\x03\x00" + b"NULL".ljust(20, b"\x00") + bytes(32)
    body = b"\x05READY\x0bSocket-Type" + (6).to_bytes(4, "big") + b"DEALER"
    return greeting + bytes([0x04, len(body)]) + body


async def test_a_bad_request_from_a_peer_that_hung_up_costs_no_one_else_a_reply(actx, filer):
    """libzmq's REP loses the next reply it sends, to anyone, after reading a request without
    envelope from a peer it can no longer write to; the responder must not."""
    endpoint, answers = filer
    with socket.socket(socket.AF_UNIX) as raw:
        raw.settimeout(WAIT_MS / 1000)
        raw.connect(endpoint.removeprefix("ipc://"))
        raw.sendall(zmtp_dealer_greeting())
        received = b""
        while len(received) < 64:  # the server's greeting: the connection is up
            received += raw.recv(64 - len(received))
        oversized_header = b"\x02" + (MAX_MESSAGE_BYTES + 1).to_bytes(8, "big")
        raw.sendall(b"\x01\x01x" + b"\x00\x01y" + oversized_header)
        while raw.recv(4096):  # blocks the loop until the server hangs up on the oversized
            pass  # frame, so the request without envelope is read after its peer is gone
    reply = await exchange(actx, endpoint, [b'{"path": "target.txt"}'])
    assert reply["content"] == TARGET_TEXT
    await wait_for(lambda: answers)
    assert len(answers) == 1
