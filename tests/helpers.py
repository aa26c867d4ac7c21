"""Plain helpers shared by the test layers: imported (`from helpers import wait_for`), never
`from conftest import`; the fixtures built on them stay in `conftest.py`."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import os
import pty
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import msgpack
import orjson
import zmq
import zmq.asyncio
from rich.console import Console
from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Footer, RichLog

from zmqtui.history import HistoryRecord
from zmqtui.services import sockets
from zmqtui.services.reqrep import envelope_end

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from zmqtui.request_spec import RequestSpec
    from zmqtui.tui.app import ZmqtuiApp

CHILD_TIMEOUT = 10.0
"""Seconds a child process may take to print an expected line or to exit."""
TARGET_TEXT = "hello from the filer\n"
"""What `target.txt` holds in the `served_root` fixture's directory."""


def free_tcp_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_tcp_ports(count: int) -> list[int]:
    """`count` distinct loopback TCP ports nobody listens on right now."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


async def wait_for(predicate: Callable[[], object], timeout: float = 5.0, every: float = 0.02):
    """Poll `predicate` until it is truthy (and return it) or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(every)


def wait_for_sync(predicate: Callable[[], object], timeout: float = 5.0, every: float = 0.02):
    """Blocking `wait_for` for tests without an event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(every)


def make_served_root(directory: Path) -> Path:
    """`directory` created with `target.txt` (holding `TARGET_TEXT`) in it: a root to serve."""
    directory.mkdir()
    (directory / "target.txt").write_text(TARGET_TEXT)
    return directory


class Processes:
    """Starts `zmqtui` subcommands as child processes and always reaps them."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[str]] = []

    def start(self, *args: str, **kwargs) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zmqtui", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            **kwargs,
        )
        self.children.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.children:
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()


class Lines:
    """Collects a child's output stream line by line on a thread, so reads can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait(self, pattern: str, timeout: float = CHILD_TIMEOUT) -> str:
        """The first line matching `pattern`, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise AssertionError(f"no line matching /{pattern}/ in {self.lines}")
            time.sleep(0.02)

    def finish(self) -> list[str]:
        """Everything, once the child has exited and the stream is at its end."""
        self._thread.join(timeout=CHILD_TIMEOUT)
        return self.lines


def stop(proc: subprocess.Popen, signum: int) -> int:
    """Signal `proc` and return its exit status once it has ended."""
    proc.send_signal(signum)
    return proc.wait(timeout=CHILD_TIMEOUT)


class Terminal:
    """A pseudo-terminal for a full-screen child process, its output drained in a thread."""

    def __init__(self, columns: int = 160, lines: int = 45) -> None:
        self.master, self.slave = pty.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.output = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)

    def start(self) -> None:
        os.close(self.slave)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        """Hang up, as a closed terminal window does (once)."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def bound(ctx: zmq.asyncio.Context, kind: int, endpoint: str) -> zmq.asyncio.Socket:
    """A socket of `kind` bound to `endpoint` as the services bind theirs (limits, CURVE)."""
    sock = ctx.socket(kind)
    sockets.configure(sock)
    sockets.bind(sock, endpoint)
    return sock


def plain(renderable: object, width: int = 200) -> str:
    """What Rich prints for `renderable`, without colours: the text a user reads."""
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


class PaneHost(App[None]):
    """One pane alone in an app, with the footer that shows its keys, animations off."""

    TITLE = "zmqtui"

    def __init__(self, make_pane: Callable[[], Widget]) -> None:
        super().__init__()
        self.make_pane = make_pane
        self.animation_level = "none"

    def compose(self) -> ComposeResult:
        yield self.make_pane()
        yield Footer()


class EchoRouter:
    """A ROUTER on a thread of its own that answers like a REP: each message's envelope back,
    then `answer(body)` (the body itself by default). Stop it with `close`."""

    def __init__(
        self,
        ctx: zmq.Context,
        endpoint: str,
        answer: Callable[[list[bytes]], list[bytes]] = lambda body: body,
    ) -> None:
        self.answered = 0
        self._stopping = threading.Event()
        self._sock = ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(endpoint)
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._answer = answer
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stopping.is_set():
                if not self._sock.poll(50):
                    continue
                frames = self._sock.recv_multipart()
                start = envelope_end(frames) or 1
                self._sock.send_multipart([*frames[:start], *self._answer(frames[start:])])
                self.answered += 1
        finally:
            self._sock.close(linger=0)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=CHILD_TIMEOUT)


def mixed_messages(count: int) -> list[list[bytes]]:
    """Topics in frame 0 and as a leading token, JSON, msgpack, text, binary, empty frames,
    bytes that look like an encoded surrogate (not UTF-8)."""
    messages = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            messages.append([b"md.AAPL", orjson.dumps({"seq": i, "bid": i / 7})])
        elif kind == 1:
            messages.append([b"md.MSFT", msgpack.packb({"seq": i, "raw": b"\x00\xff"})])
        elif kind == 2:
            messages.append([b"10001 23 %d" % i])
        elif kind == 3:
            messages.append([b"\xff\xfe" + i.to_bytes(4, "big")])
        else:
            messages.append([b"log", b"", b"\xed\xa0\x80 %d \x1b[31m" % i])
    return messages


async def composer_sends(app: ZmqtuiApp, spec: RequestSpec, timeout: float = 20.0) -> str:
    """Put `spec` in the monitor's composer, send it and wait for its outcome in the history
    (`newest_outcome`); the response panel's text (what the user reads)."""
    pane = app.composer_pane
    await pane.load_request(spec)
    pane.action_send()
    await wait_for(lambda: not pane._in_flight, timeout)
    await wait_for(lambda: newest_outcome(app) is not None, timeout)
    await asyncio.sleep(0)
    lines = app.query_one("#composer-response", RichLog).lines
    return "\n".join(strip.text.rstrip() for strip in lines)


def lines_on_screen(widget: Widget) -> list[str]:
    """The lines `widget` paints at its size, as the terminal shows them, stripped."""
    return [
        "".join(segment.text for segment in widget.render_line(y)).strip()
        for y in range(widget.size.height)
    ]


def newest_outcome(app: ZmqtuiApp) -> HistoryRecord | None:
    """The newest entry of the requests pane's history, once it has its outcome."""
    from zmqtui.tui.panes.composer.library import HistoryList

    records = app.query_one(HistoryList).records
    newest = records[0] if records else None
    return newest if isinstance(newest, HistoryRecord) else None


def painted(app: App) -> bool:
    """Every log, counter and the detail show what the monitor holds."""
    from zmqtui.tui.widgets.live_text import LiveText
    from zmqtui.tui.widgets.ring_log import RingLog

    widgets = [*app.query(RingLog), *app.query(LiveText)]
    return all(w.up_to_date for w in widgets) and app.subscriber_pane.detail_up_to_date  # type: ignore[attr-defined]


async def settled(pilot: Pilot) -> None:
    """Every scripted message handled and painted (checked twice: painting posts messages)."""
    while True:
        await pilot.pause()
        if painted(pilot.app):
            await pilot.pause(0.05)
            if painted(pilot.app):
                return
