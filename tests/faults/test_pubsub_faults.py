"""Faults between `zmqtui watch` and `zmqtui subscribe` processes over loopback.

A publisher killed and started again under attached subscribers, and a subscriber frozen
while thousands of events go by. Subscribers must resume by themselves and say what they
missed; the publisher must never wait for anyone.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from faultkit import START, Child, Children, running_children
from helpers import free_tcp_port, wait_for_sync

pytestmark = [pytest.mark.fault, pytest.mark.integration]

BURST = 3000
"""Writes to each of two files while a subscriber is frozen: 6000 events of ~3.6 KB, more than
the high-water marks and the kernel's socket buffers between them hold."""


def start_watch(children: Children, directory: Path, endpoint: str) -> Child:
    watcher = children.start("watch", str(directory), "--bind", endpoint, "--coalesce-ms", "0")
    watcher.wait_for_line(f"Listening for zmq subscribers on {endpoint}")
    return watcher


def change_until_seen(directory: Path, name: str, subscribers: list[Child]) -> None:
    """Change `name` again and again until every subscriber has printed it (slow joiners)."""
    path = directory / name

    def seen() -> bool:
        path.write_text(str(time.monotonic()))
        return all(sub.lines_with(name) for sub in subscribers)

    wait_for_sync(seen, timeout=START, every=0.1)


def test_subscribers_ride_out_a_publisher_killed_and_restarted(tmp_path: Path):
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    with running_children() as children:
        first = start_watch(children, tmp_path, endpoint)
        subscribers = [children.start("subscribe", "--connect", endpoint) for _ in range(2)]
        change_until_seen(tmp_path, "before.txt", subscribers)

        first.popen.send_signal(signal.SIGKILL)
        first.popen.wait(timeout=10)
        start_watch(children, tmp_path, endpoint)
        change_until_seen(tmp_path, "after.txt", subscribers)

        for subscriber in subscribers:
            assert subscriber.alive()
            assert subscriber.lines_with("publisher restarted", stream="stderr")
            assert not subscriber.lines_with("Traceback", stream="stderr")


def test_a_frozen_subscriber_loses_events_and_says_so_while_the_publisher_goes_on(
    tmp_path: Path,
):
    deep = tmp_path.joinpath(*["d" * 200] * 16)  # long paths make big events
    deep.mkdir(parents=True)
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    with running_children() as children:
        watcher = start_watch(children, deep, endpoint)
        fast, slow = (children.start("subscribe", "--connect", endpoint) for _ in range(2))
        change_until_seen(deep, "hello.txt", [fast, slow])
        base_rss = watcher.rss()

        os.kill(slow.pid, signal.SIGSTOP)
        try:
            files = [os.open(deep / f"{c * 200}.txt", os.O_WRONLY | os.O_CREAT) for c in "ab"]
            try:
                for _ in range(BURST):
                    for fd in files:  # alternating, so inotify cannot merge the events
                        os.write(fd, b"x")
            finally:
                for fd in files:
                    os.close(fd)
            change_until_seen(deep, "fast-after-burst.txt", [fast])  # the publisher never waited
            assert watcher.rss() - base_rss < 64 * 2**20  # what waits for `slow` is bounded
        finally:
            os.kill(slow.pid, signal.SIGCONT)

        change_until_seen(deep, "slow-after-thaw.txt", [slow])
        assert slow.lines_with("gap: missed", stream="stderr"), slow.stderr
        assert len(slow.lines_with(".txt changed at")) < len(fast.lines_with(".txt changed at"))
        assert watcher.alive() and slow.alive()
