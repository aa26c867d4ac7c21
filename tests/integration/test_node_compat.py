"""Wire compatibility with the book's Node.js scripts (tests/node), both ways round.

Each test pairs one `zmqtui` command with one of the book's scripts over a free loopback
port: their subscriber prints our events, their requester gets replies from `zmqtui serve`
and `zmqtui cluster`, our subscriber prints their events, our requester (and the monitor's
composer) gets their replies.
The scripts need Node.js and `npm ci` in tests/node; without them these tests skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from helpers import TARGET_TEXT, composer_sends, wait_for_sync

from zmqtui.request_spec import RequestSpec
from zmqtui.services.conversations import ConversationsReader
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.bridge import ZmqBridge

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
NODE = shutil.which("node")
START_TIMEOUT = 10.0
pytestmark = pytest.mark.integration


def node_unavailable() -> str | None:
    """Why the book's scripts cannot run here, or None when they can."""
    if NODE is None:
        return "node is not installed"
    if not (NODE_DIR / "node_modules" / "zeromq").is_dir():
        return f"zeromq is not installed for node: run `npm ci` in {NODE_DIR}"
    probe = subprocess.run(
        [NODE, "-e", 'require("zeromq/v5-compat")'],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"node cannot load zeromq: {probe.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="module", autouse=True)
def node_zeromq() -> None:
    reason = node_unavailable()
    if reason:
        pytest.skip(reason)


class Child:
    """A process whose stdout and stderr go to a log file that the test polls."""

    def __init__(self, name: str, argv: list[str], log: Path, cwd: Path, env: dict[str, str]):
        self.name = name
        self.log = log
        with log.open("w") as sink:
            self.proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        """The first match of `pattern` in the output, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            exited = self.proc.poll() is not None  # checked first: output then is complete
            if match := re.search(pattern, self.output()):
                return match
            if exited or time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} never printed /{pattern}/ (exit code {self.proc.poll()});"
                    f" its output:\n{self.output()}"
                )
            time.sleep(0.02)


class Children:
    """Starts `zmqtui` commands and the book's scripts; terminates (then kills) all of them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Child] = []

    def start(self, name: str, argv: list[str], cwd: Path, env: dict[str, str]) -> Child:
        child = Child(name, argv, self.directory / f"{len(self.started)}-{name}.log", cwd, env)
        self.started.append(child)
        return child

    def zmqtui(self, *args: str, cwd: Path) -> Child:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return self.start(f"zmqtui {args[0]}", [sys.executable, "-m", "zmqtui", *args], cwd, env)

    def node(self, script: str, *args: str, endpoint: str, cwd: Path) -> Child:
        env = {**os.environ, "ZMQ_ENDPOINT": endpoint}
        assert NODE is not None
        return self.start(script, [NODE, str(NODE_DIR / script), *args], cwd, env)

    def stop_all(self) -> None:
        for child in self.started:
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in self.started:
            try:
                child.proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait(timeout=5)


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    logs = tmp_path / "logs"
    logs.mkdir()
    spawned = Children(logs)
    yield spawned
    spawned.stop_all()


def touch_until(path: Path, child: Child, pattern: str) -> re.Match[str]:
    """Append to `path` until `child` prints `pattern` (a subscriber may join late)."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        with path.open("a") as file:
            file.write("change\n")
        try:
            return child.wait_output(pattern, timeout=0.5)
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def assert_plausible_date(line: str, before: float) -> None:
    """The book prints `new Date(timestamp)`: milliseconds give this year, not 1970."""
    years = {time.localtime(before).tm_year, time.localtime().tm_year}
    assert "Invalid Date" not in line
    assert any(f" {year} " in line for year in years), line


def test_book_subscriber_prints_our_watcher_events(children, tcp_endpoint, tmp_path):
    watched = tmp_path / "watched.txt"
    watched.write_text("start\n")
    endpoint = tcp_endpoint()
    before = time.time()
    watcher = children.zmqtui("watch", str(watched), "--bind", endpoint, cwd=tmp_path)
    watcher.wait_output(r"Listening for zmq subscribers on")
    book_sub = children.node("zmq-watcher-sub.js", endpoint=endpoint, cwd=tmp_path)

    line = touch_until(watched, book_sub, r"File \S*watched\.txt changed at .*").group(0)

    assert_plausible_date(line, before)
    assert "Error" not in book_sub.output()


def test_our_subscriber_prints_book_publisher_events(children, tcp_endpoint, tmp_path):
    watched = tmp_path / "watched.txt"
    watched.write_text("start\n")
    endpoint = tcp_endpoint()
    before = time.time()
    book_pub = children.node("zmq-watcher-pub.js", "watched.txt", endpoint=endpoint, cwd=tmp_path)
    book_pub.wait_output(r"Listening for zmq subscribers")
    subscriber = children.zmqtui("subscribe", "--connect", endpoint, cwd=tmp_path)

    line = touch_until(watched, subscriber, r"File watched\.txt changed at .*").group(0)

    assert_plausible_date(line, before)
    assert "Traceback" not in subscriber.output()


def assert_book_requester_got(book_req: Child, content: str) -> int:
    """Wait for the book's `Received response { content, timestamp, pid }`; return the pid."""
    book_req.wait_output(r"Received response")
    output = book_req.wait_output(r"pid: \d+").string
    assert f"content: {content!r}" in output, output
    assert re.search(r"timestamp: \d{13}\b", output), output
    return int(re.search(r"pid: (\d+)", output).group(1))


def test_book_requester_gets_reply_from_our_serve(children, tcp_endpoint, served_root):
    endpoint = tcp_endpoint()
    server = children.zmqtui(
        "serve", "--root", str(served_root), "--bind", endpoint, cwd=served_root
    )
    server.wait_output(r"Listening for zmq requesters on")

    book_req = children.node("zmq-filer-req.js", "target.txt", endpoint=endpoint, cwd=served_root)

    assert assert_book_requester_got(book_req, TARGET_TEXT) == server.pid


def test_book_requester_gets_reply_from_our_cluster(children, tcp_endpoint, served_root):
    endpoint = tcp_endpoint()
    cluster = children.zmqtui(
        "cluster",
        "--root",
        str(served_root),
        "--workers",
        "1",
        "--bind",
        endpoint,
        "--stats",
        tcp_endpoint(),
        "--control",
        tcp_endpoint(),
        cwd=served_root,
    )
    cluster.wait_output(r"Cluster listening for zmq requesters on")

    book_req = children.node("zmq-filer-req.js", "target.txt", endpoint=endpoint, cwd=served_root)

    worker_pid = assert_book_requester_got(book_req, TARGET_TEXT)
    workers = {proc.pid for proc in psutil.Process(cluster.pid).children(recursive=True)}
    assert worker_pid in workers


def test_our_requester_gets_reply_from_book_responder(children, tcp_endpoint, served_root):
    endpoint = tcp_endpoint()
    book_rep = children.node("zmq-filer-rep.js", endpoint=endpoint, cwd=served_root)
    book_rep.wait_output(r"Listening for zmq requesters")

    requester = children.zmqtui("request", "target.txt", "--connect", endpoint, cwd=served_root)

    assert requester.proc.wait(timeout=20) == 0, requester.output()
    output = requester.output()
    assert TARGET_TEXT.strip() in output
    assert f"pid {book_rep.pid}" in output
    assert "Received request: target.txt" in book_rep.output()


def test_our_requester_keeps_many_in_flight_to_book_responder(children, tcp_endpoint, served_root):
    """The book's responder echoes no request id; our concurrent requester takes its replies."""
    endpoint = tcp_endpoint()
    book_rep = children.node("zmq-filer-rep.js", endpoint=endpoint, cwd=served_root)
    book_rep.wait_output(r"Listening for zmq requesters")

    requester = children.zmqtui(
        "request",
        "target.txt",
        "--connect",
        endpoint,
        "--count",
        "10",
        "--concurrency",
        "3",
        "--json",
        cwd=served_root,
    )

    assert requester.proc.wait(timeout=20) == 0, requester.output()
    summary = json.loads(requester.output().strip().splitlines()[-1])
    assert summary["replies_by_pid"] == {str(book_rep.pid): 10}
    assert (summary["errors_by_code"], summary["unavailable"]) == ({}, 0)


def test_our_tap_pairs_the_book_requester_with_the_book_responder(
    children, tcp_endpoint, served_root, ctx
):
    backend, frontend, pairs = tcp_endpoint(), tcp_endpoint(), tcp_endpoint()
    book_rep = children.node("zmq-filer-rep.js", endpoint=backend, cwd=served_root)
    book_rep.wait_output(r"Listening for zmq requesters")
    tap = children.zmqtui(
        "tap", "--listen", frontend, "--forward", backend, "--json", "--pairs", pairs,
        cwd=served_root,
    )  # fmt: skip
    tap.wait_output(r"Publishing pairs on")
    reader = ConversationsReader(ctx, pairs)  # what the monitor's Conversations view reads
    reader.start()
    try:
        wait_for_sync(lambda: any(e.event == "connected" for e in reader.events()), START_TIMEOUT)
        for _ in range(2):
            book_req = children.node(
                "zmq-filer-req.js", "target.txt", endpoint=frontend, cwd=served_root
            )
            assert assert_book_requester_got(book_req, TARGET_TEXT) == book_rep.pid
        wait_for_sync(lambda: reader.view(5).pairs == 2, START_TIMEOUT)
        view = reader.view(5)
    finally:
        reader.stop()

    def printed_lines() -> list[str]:
        return re.findall(r'\{"time_ms".*\}', tap.output())

    printed = [
        json.loads(line)
        for line in wait_for_sync(lambda: len(printed_lines()) == 2 and printed_lines())
    ]
    for pair in printed:
        assert pair["request"] == 'json:{"path":"target.txt"}'
        assert pair["reply"].startswith('json:{"content":')
        assert (pair["pid"], pair["no_reply"]) == (book_rep.pid, None)
    assert [(p.request, p.pid) for p in view.recent] == [
        ('json:{"path":"target.txt"}', book_rep.pid)
    ] * 2
    assert [(w.name, w.pairs, w.no_reply) for w in view.workers] == [(str(book_rep.pid), 2, 0)]


@pytest.mark.parametrize("dealer", [[], ["--dealer"]], ids=["REQ", "DEALER"])
def test_our_send_gets_a_reply_from_the_book_responder(children, tcp_endpoint, served_root, dealer):
    endpoint = tcp_endpoint()
    book_rep = children.node("zmq-filer-rep.js", endpoint=endpoint, cwd=served_root)
    book_rep.wait_output(r"Listening for zmq requesters")

    sender = children.zmqtui(
        "send", endpoint, 'json:{"path": "target.txt"}', "--json", *dealer, cwd=served_root
    )

    assert sender.proc.wait(timeout=20) == 0, sender.output()
    (reply,) = json.loads(sender.output().strip().splitlines()[-1])["reply"]
    assert reply["json"]["content"] == TARGET_TEXT
    assert reply["json"]["pid"] == book_rep.pid


@pytest.mark.parametrize("socket", ["REQ", "DEALER"])
async def test_the_monitors_composer_gets_replies_from_book_responder(
    children, tcp_endpoint, served_root, socket
):
    """A multi-frame message from the composer: the book's REP reads the first frame as JSON
    (a DEALER's envelope taken off by REP) and its reply is shown decoded."""
    endpoint = tcp_endpoint()
    book_rep = children.node("zmq-filer-rep.js", endpoint=endpoint, cwd=served_root)
    await asyncio.to_thread(book_rep.wait_output, r"Listening for zmq requesters")
    bridge = ZmqBridge(Endpoints(req=endpoint), timeout_ms=5000, tries=2)
    spec = RequestSpec("", ('json:{"path": "target.txt"}', "text:ignored", "hex:00ff"), socket)

    async with ZmqtuiApp(bridge).run_test(size=(160, 45)) as pilot:
        shown = await composer_sends(pilot.app, spec)

    assert "frame 1 json" in shown, shown
    assert json.dumps(TARGET_TEXT)[1:-1] in shown
    assert f"pid {book_rep.pid}" in shown
    assert "Received request: target.txt" in book_rep.output()
