"""`zmqtui --with-tap`: the embedded stack's tap in front of its cluster, read as the monitor's
Conversations view reads it."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
import zmq
from helpers import TARGET_TEXT, wait_for_sync

from zmqtui.services.conversations import ConversationsReader
from zmqtui.services.stack import (
    ClusterEndpoints,
    EmbeddedCluster,
    EmbeddedStack,
    EmbeddedTap,
    free_endpoint,
)

WAIT_S = 20.0


@pytest.mark.integration
def test_requests_to_the_stack_go_through_its_tap_to_the_workers(
    ctx, served_root: Path, tmp_path: Path
) -> None:
    listen, inner, pairs = free_endpoint(), free_endpoint(), free_endpoint()
    endpoints = ClusterEndpoints(inner, f"ipc://{tmp_path}/stats", f"ipc://{tmp_path}/ctl")
    tap = EmbeddedTap(listen, inner, pairs)
    stack = EmbeddedStack(served_root, "tcp://127.0.0.1:0", EmbeddedCluster(
        served_root, endpoints, workers=1), tap=tap)  # fmt: skip
    reader = ConversationsReader(ctx, pairs)
    client = ctx.socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    try:
        stack.start_cluster()
        reader.start()
        wait_for_sync(lambda: any(e.event == "connected" for e in reader.events()), WAIT_S)
        client.connect(listen)
        client.send(b'{"path": "target.txt"}')
        assert client.poll(int(WAIT_S * 1000)), "no reply through the tap"
        reply = json.loads(client.recv())
        assert reply["content"] == TARGET_TEXT
        wait_for_sync(lambda: reader.view(1).pairs == 1, WAIT_S)
        (pair,) = reader.view(1).recent
        assert (pair.request, pair.pid) == ('json:{"path": "target.txt"}', reply["pid"])
        tap_process = psutil.Process(tap.process.pid)
    finally:
        client.close(linger=0)
        reader.stop()
        stack.stop()
    assert not tap_process.is_running() and tap.poll() is None


@pytest.mark.parametrize("attach", [["--req", "tcp://127.0.0.1:5555"], ["--tap", "ipc:///x"]])
def test_with_tap_is_for_the_embedded_stack_only(attach: list[str]) -> None:
    from click.testing import CliRunner

    from zmqtui.commands.monitor import command as monitor

    result = CliRunner().invoke(monitor, ["--with-tap", *attach])
    assert result.exit_code == 2
    assert "--with-tap apply to the embedded stack" in result.output


def test_a_tap_endpoint_zeromq_cannot_use_is_a_usage_error() -> None:
    from click.testing import CliRunner

    from zmqtui.commands.monitor import command as monitor

    result = CliRunner().invoke(monitor, ["--tap", "localhost:60404"])
    assert result.exit_code == 2 and "must look like tcp://HOST:PORT" in result.output


@pytest.mark.integration
def test_a_tap_that_cannot_start_says_why(ctx) -> None:
    """What the monitor tells when its embedded tap exits: the tap's last words."""
    taken = ctx.socket(zmq.ROUTER)
    taken.setsockopt(zmq.LINGER, 0)
    listen = free_endpoint()
    taken.bind(listen)
    tap = EmbeddedTap(listen, free_endpoint(), free_endpoint())
    try:
        tap.start()
        wait_for_sync(lambda: tap.poll() is not None, WAIT_S)
        assert tap.poll() == 2
        assert f"{listen} is already in use" in tap.log_tail()
    finally:
        tap.stop()
        taken.close(linger=0)
    assert tap.log_tail() == ""
