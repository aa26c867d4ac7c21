"""The ROUTER that answers like a REP, and the Lazy Pirate client, on their own."""

from __future__ import annotations

import asyncio

import pytest
import zmq
import zmq.asyncio

from zmqtui.services import sockets
from zmqtui.services.reqrep import LazyPirate, envelope_end


@pytest.mark.parametrize(
    ("frames", "end"),
    [
        ([b"peer", b"", b"body"], 2),
        ([b"peer", b"hop", b"", b"body", b"more"], 3),
        ([b"peer", b"", b""], 2),  # an empty body still has someone to answer
        ([b"peer", b"body"], None),  # no envelope: nobody to answer
        ([b""], None),  # the first frame is the peer's identity, never the delimiter
    ],
)
def test_envelope_end(frames: list[bytes], end: int | None):
    assert envelope_end(frames) == end


@pytest.fixture
async def router(actx: zmq.asyncio.Context, ipc_endpoint):
    sock = actx.socket(zmq.ROUTER)
    sockets.configure(sock)
    sock.bind(ipc_endpoint("router"))
    yield sock
    sock.close(linger=0)


async def answer(router: zmq.asyncio.Socket, body: bytes) -> bytes:
    """Answer the next request with `body`; the request's body."""
    frames = await asyncio.wait_for(router.recv_multipart(), 5)
    start = envelope_end(frames)
    assert start is not None
    await router.send_multipart([*frames[:start], body])
    return frames[start]


async def test_a_turned_down_reply_sends_the_request_again_on_the_same_try(actx, router):
    endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
    pirate = LazyPirate(actx, endpoint, timeout_ms=5000, tries=1, max_reply_bytes=None)
    try:
        asking = asyncio.create_task(pirate.ask(b"q", lambda f: f[0] if f[0] == b"mine" else None))
        assert await answer(router, b"stale") == b"q"
        assert await answer(router, b"mine") == b"q"
        exchange = await asyncio.wait_for(asking, 5)
    finally:
        pirate.close()
    assert (exchange.taken, exchange.tries, exchange.discarded) == (b"mine", 1, 1)


async def test_silence_gives_up_after_every_try(actx, ipc_endpoint):
    pirate = LazyPirate(actx, ipc_endpoint("nobody"), timeout_ms=50, tries=3, max_reply_bytes=None)
    try:
        exchange = await asyncio.wait_for(pirate.ask(b"q", lambda f: f), 5)
    finally:
        pirate.close()
    assert (exchange.taken, exchange.tries, exchange.why) == (None, 3, None)


def test_nonsense_settings_are_refused(ctx):
    with pytest.raises(ValueError):
        LazyPirate(ctx, "inproc://x", timeout_ms=0, tries=1, max_reply_bytes=None)
