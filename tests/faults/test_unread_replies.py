"""A client that asks and never reads: the server holds a bounded number of its reply bytes.

The attack, at a small scale: one DEALER with the smallest receive buffers pipelines requests
for a file of control characters (each reply six times the file, once JSON-escaped) and never
reads. libzmq's high-water marks count messages, not bytes, so without a budget the server
queues every reply. With it, the server's memory grows by about the budget per peer, and falls
back once the peer leaves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import zmq
from faultkit import START, Child, Children, ClusterUnderTest, fetch, running_children
from helpers import free_tcp_port, wait_for_sync

from zmqtui.services.budget import PEER_REPLY_BYTES

pytestmark = [pytest.mark.fault, pytest.mark.integration]

FILE_BYTES = 256 * 1024
"""A reply to it is 1.5 MiB: every byte a control character, escaped in six."""
REQUESTS = 120
"""180 MiB of replies, unbounded."""
ALLOWED_GROWTH = PEER_REPLY_BYTES + 24 * 2**20
"""The budget, plus room for one reply being built and the allocator's slack."""
MiB = 2**20


@pytest.fixture
def root(tmp_path: Path) -> Path:
    served = tmp_path / "root"
    served.mkdir()
    (served / "controls.txt").write_bytes(b"\x01" * FILE_BYTES)
    (served / "small.txt").write_text("still answering\n")
    return served


@pytest.fixture
def children() -> Iterator[Children]:
    with running_children() as started:
        yield started


class Reader:
    """A DEALER that sends requests and never reads a reply, with the smallest buffers."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 1)
        self.sock.setsockopt(zmq.RCVBUF, 4096)
        self.sock.connect(endpoint)

    def ask(self, count: int) -> None:
        for _ in range(count):
            self.sock.send_multipart([b"", b'{"path": "controls.txt"}'])

    def leave(self) -> None:
        self.ctx.destroy(linger=0)


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


def assert_bounded_then_given_back(
    server_pid: int, endpoint: str, answered: Callable[[], int], before: int
) -> None:
    """One peer asks `REQUESTS` times and never reads; the server's memory stays within the
    budget while others are still served, and falls back once the peer leaves."""
    reader = Reader(endpoint)
    try:
        reader.ask(REQUESTS)
        wait_for_sync(lambda: answered() >= REQUESTS, timeout=START, every=0.1)
        assert fetch(endpoint, "small.txt") == "still answering\n"  # others still served
        grown = rss(server_pid) - before
        assert grown < ALLOWED_GROWTH, f"grew {grown / MiB:.0f} MiB for one unread peer"
    finally:
        reader.leave()
    wait_for_sync(lambda: rss(server_pid) - before < ALLOWED_GROWTH // 2, timeout=START, every=0.2)


def settled_rss(child: Child, endpoint: str) -> int:
    """RSS once the server has answered a few requests (its caches and buffers in place)."""
    for _ in range(3):
        fetch(endpoint, "small.txt")
    return rss(child.pid)


def test_serve_holds_a_bounded_part_of_the_replies_of_a_peer_that_never_reads(
    children: Children, root: Path
):
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    serve = children.start("serve", "--root", str(root), "--bind", endpoint)
    serve.wait_for_line("Listening")
    before = settled_rss(serve, endpoint)

    def answered() -> int:
        return len([line for line in serve.stdout if re.search(r"controls\.txt$", line)])

    assert_bounded_then_given_back(serve.pid, endpoint, answered, before)


def test_the_cluster_holds_a_bounded_part_of_the_replies_of_a_peer_that_never_reads(
    children: Children, root: Path
):
    cluster = ClusterUnderTest(children, root, "--routing", "lb", workers=1)
    cluster.wait_bound()
    cluster.ready()
    before = settled_rss(cluster.child, cluster.frontend)

    def answered() -> int:
        return sum(worker["requests"] for worker in cluster.listing()["workers"]) - 3

    assert_bounded_then_given_back(cluster.pid, cluster.frontend, answered, before)
