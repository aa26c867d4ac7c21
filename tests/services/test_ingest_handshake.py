"""A feed whose CURVE handshake fails says why in plain words, for the pane and the log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import zmq
import zmq.asyncio

from zmqtui.config import FeedConfig, Settings
from zmqtui.security import CurveProfile, use_profile, write_key_pair
from zmqtui.services import sockets
from zmqtui.services.ingest import IngestProcess, StreamSpec


@pytest.mark.integration
async def test_a_feed_that_trusts_another_server_key_says_the_key_does_not_match(
    actx: zmq.asyncio.Context, tmp_path: Path
) -> None:
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    server, client, other = (
        write_key_pair(tmp_path / name, name) for name in ("server", "client", "other")
    )
    pub = actx.socket(zmq.PUB)
    sockets.configure(pub)
    server_profile = CurveProfile.from_settings(
        Settings(curve_secret=str(server.secret), curve_authorized=str(authorized))
    )
    endpoint = sockets.bind(pub, "tcp://127.0.0.1:0", curve=server_profile)
    use_profile(
        CurveProfile.from_settings(
            Settings(curve_secret=str(client.secret), curve_server=str(other.public))
        )
    )
    ingest = IngestProcess(actx, [FeedConfig(endpoint, endpoint)], [StreamSpec("sub")])
    try:
        ingest.start()

        async def failed() -> tuple:
            while True:
                reply = await ingest.replies()
                if reply[0] == "state" and reply[2] == "failed":
                    return reply

        reply = await asyncio.wait_for(failed(), 15)
        assert reply[3:] == (endpoint, "the server's key does not match")
    finally:
        use_profile(None)
        await ingest.stop()
        pub.close(linger=0)
