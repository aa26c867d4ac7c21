"""Make the README's screenshots of the real monitor: an embedded stack on real sockets, and
a feed that is not the book's.

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--only stack|any-feed]

The stack tour starts a filer cluster (3 workers) and the monitor headless at 160x45 on a
scratch directory (a few saved requests beside it), changes files, sends requests, kills a
worker, sends a message over DEALER.
The any-feed tour attaches the monitor to a mixed feed (the rounds of `zmqtui.demo`, md.AAPL
quotes flooding on top) and shows the subscriber pane and the topics view. Each saves an SVG of
the screen at each step, plus a PNG of each when `rsvg-convert` is installed. Everything it
starts, it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zmq
import zmq.asyncio
from textual.pilot import Pilot

from zmqtui import demo
from zmqtui.config import Settings
from zmqtui.history import HistoryRecord
from zmqtui.request_spec import RequestSpec
from zmqtui.services import sockets
from zmqtui.services.stack import ClusterEndpoints, EmbeddedCluster, EmbeddedStack, pick_endpoint
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.bridge import ZmqBridge

SIZE = (160, 45)
WORKERS = 3


def make_site(root: Path) -> None:
    """A small directory to serve and watch."""
    (root / "docs").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "index.html").write_text("<h1>zmqtui</h1>\n<p>Served by a filer worker.</p>\n")
    (root / "docs" / "intro.md").write_text("# Intro\n\nEvery change is published.\n")
    (root / "src" / "app.py").write_text('def main() -> None:\n    print("hello")\n')
    (root / "target.txt").write_text("watch me\n")


def make_collection(root: Path, req_endpoint: str) -> None:
    """A few saved requests with two environments: what the requests pane's tree shows."""
    port = req_endpoint.rsplit(":", 1)[1]
    (root / "files").mkdir(parents=True)
    (root / "environments.toml").write_text(
        "default = 'local'\n\n[shared]\nn = 1\n\n"
        f"[env.local]\nhost = '127.0.0.1'\nport = {port}\n\n"
        "[env.staging]\nhost = '10.0.0.5'\nport = 60401\n"
    )
    (root / "files" / "index.toml").write_text(
        "endpoint = 'tcp://${host}:${port}'\nframes = ['json:{\"path\": \"index.html\"}']\n"
    )
    (root / "files" / "app-over-dealer.toml").write_text(
        "endpoint = 'tcp://${host}:${port}'\nsocket = 'DEALER'\n"
        'frames = [\'json:{"path": "src/app.py", "id": ${n}}\']\n'
    )
    (root / "ping.toml").write_text("endpoint = 'tcp://${host}:${port}'\nframes = ['text:ping']\n")


async def until(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the monitor did not get there in time")
        await asyncio.sleep(0.05)


def workers_ready(app: ZmqtuiApp, count: int = WORKERS) -> bool:
    snapshot = app.workers_pane.snapshot
    return bool(snapshot and sum(1 for w in snapshot.workers if w.state == "ready") >= count)


class Camera:
    """Saves the screen as SVG (and PNG when rsvg-convert exists).

    rsvg-convert drops the spaces that start a text run (a styled cell's neighbour), which
    shifts the rest of the line left; `xml:space="preserve"` keeps them where a browser would.
    """

    def __init__(self, app: ZmqtuiApp, out: Path) -> None:
        self.app = app
        self.out = out
        self.rsvg = shutil.which("rsvg-convert")

    async def shoot(self, pilot: Pilot, name: str) -> None:
        await pilot.pause(0.3)  # let the last frame paint
        svg = self.out / f"{name}.svg"
        picture = self.app.export_screenshot(title="zmqtui")
        svg.write_text(picture, encoding="utf-8")
        if self.rsvg:
            png = svg.with_suffix(".png")
            spaced = picture.replace("<svg ", '<svg xml:space="preserve" ', 1).encode()
            subprocess.run([self.rsvg, "-o", str(png)], input=spaced, check=True)
        print(f"saved {svg}")


async def tour(app: ZmqtuiApp, root: Path, out: Path) -> None:
    camera = Camera(app, out)
    async with app.run_test(size=SIZE) as pilot:
        app.animation_level = "none"
        await until(lambda: workers_ready(app))
        await until(lambda: app.publisher_pane.subscribers)
        for round_ in range(12):
            name = ("target.txt", "docs/intro.md", "src/app.py")[round_ % 3]
            with (root / name).open("a") as file:
                file.write(f"change {round_}\n")
            await asyncio.sleep(0.15)
        (root / "notes.txt").write_text("new\n")
        (root / "notes.txt").unlink()
        composer = app.composer_pane
        composer.fill("index.html")
        composer.action_send()
        library = app.request_library
        await until(lambda: library.records and isinstance(library.records[0], HistoryRecord))
        await until(lambda: app.subscriber_pane.received >= 12)
        await camera.shoot(pilot, "monitor")

        composer.fill("src/app.py", 2000, 8)
        composer.action_send()
        await until(lambda: len(library.records) >= 2 and app.workers_pane.snapshot)
        await asyncio.sleep(2.5)  # two more stats snapshots: the rates fill in
        await camera.shoot(pilot, "load")
        # the load run answered in full before the kill, however slow the machine is today
        await until(lambda: isinstance(library.records[0], HistoryRecord), timeout=180)

        await pilot.press("4", "down", "k", "k")  # the second press confirms
        await until(
            lambda: (
                any(w.restarts for w in app.workers_pane.snapshot.workers) and workers_ready(app)
            )
        )
        await camera.shoot(pilot, "kill-worker")

        await pilot.press("2", "up", "up", "m")
        await camera.shoot(pilot, "subscriber")
        await pilot.press("escape", "f1")
        await camera.shoot(pilot, "help")
        await pilot.press("escape", "escape", "3", "m")

        composer.fill("", 1, 1)  # one request, not the load's count
        await composer.load_request(RequestSpec("", ('json:{"path": "src/app.py"}',), "DEALER"))
        composer.action_send()
        await until(lambda: isinstance(library.records[0], HistoryRecord))
        await composer.frame_list.add_frame(None, "text:a second frame, typed next")
        await camera.shoot(pilot, "composer")
        await pilot.press("escape")


ROUNDS_PER_S = 10
"""Rounds of the demo feed a second, each one message of every kind."""


async def publish_mixed(sock: zmq.asyncio.Socket, flood: asyncio.Event) -> None:
    """The demo's rounds and, once `flood` is set, md.AAPL quotes flooding in waves on top:
    what the topics view is for."""
    index = 0
    while True:
        index += 1
        messages = demo.round_of(index)
        quote = messages[0]
        await sock.send_multipart(quote)
        for message in messages[1:]:
            await sock.send_multipart(message)
        for _ in range((10 + 8 * (index // ROUNDS_PER_S % 4)) * flood.is_set()):
            await sock.send_multipart(quote)
        await asyncio.sleep(1 / ROUNDS_PER_S)


async def any_feed_tour(out: Path, scratch: Path) -> None:
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.PUB)
    sockets.configure(sock)
    endpoint = sockets.bind(sock, "tcp://127.0.0.1:0")
    app = ZmqtuiApp(ZmqBridge(Endpoints(pub=endpoint)), export_dir=scratch)
    camera = Camera(app, out)
    flood = asyncio.Event()
    publishing = asyncio.create_task(publish_mixed(sock, flood))
    try:
        async with app.run_test(size=SIZE) as pilot:
            app.animation_level = "none"
            await until(lambda: app.subscriber_pane.received >= 120)
            await pilot.press("2", "m", "p", *["up"] * 6)
            await camera.shoot(pilot, "any-feed")
            flood.set()
            await pilot.press("escape", "p", "t")
            await asyncio.sleep(3)
            await pilot.press("enter", "t")  # md.AAPL chosen: its rate followed from now
            await asyncio.sleep(30)
            await camera.shoot(pilot, "topics")
            await pilot.press("q")
    finally:
        publishing.cancel()
        ctx.destroy(linger=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--only", choices=("stack", "any-feed"), help="one tour, not both")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.only != "stack":
        with tempfile.TemporaryDirectory(prefix="zmqtui-shots-") as scratch:
            asyncio.run(any_feed_tour(args.out.resolve(), Path(scratch)))
    if args.only == "any-feed":
        return
    with tempfile.TemporaryDirectory(prefix="zmqtui-shots-") as scratch:
        root = Path(scratch) / "site"
        make_site(root)
        # the tour's own request history: none of the user's on screen, nothing added to it
        os.environ["XDG_STATE_HOME"] = str(Path(scratch) / "state")
        defaults = Settings()
        chosen: dict[str, str] = {}
        for key in ("pub", "req", "stats", "control"):
            chosen[key] = pick_endpoint(getattr(defaults, key), taken=set(chosen.values()))
        cluster = EmbeddedCluster(
            root,
            ClusterEndpoints(chosen["req"], chosen["stats"], chosen["control"]),
            workers=WORKERS,
        )
        stack = EmbeddedStack(Path("site"), chosen["pub"], cluster, recursive=True)
        bridge = ZmqBridge(Endpoints(**chosen), stack=stack)
        collection = Path(scratch) / "zmq-requests"
        make_collection(collection, chosen["req"])
        app = ZmqtuiApp(
            bridge, completion_root=root, export_dir=Path(scratch), collection_dir=collection
        )
        out = args.out.resolve()
        os.chdir(scratch)  # events name files under the watched path as given: site/...
        try:  # the bridge has the cluster started once the first frame is on screen
            asyncio.run(tour(app, root, out))
        finally:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
