"""Make the README's screenshots of the real monitor: an embedded stack on real sockets.

    .venv/bin/python scripts/screenshots.py [--out screenshots]

Starts a filer cluster (3 workers) and the monitor headless at 160x45 on a scratch directory,
changes files, sends requests, kills a worker, and saves an SVG of the screen at each step,
plus a PNG of each when `rsvg-convert` is installed. Everything it starts, it stops.
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

from textual.pilot import Pilot

from zmqtui.config import Settings
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
    """Saves the screen as SVG (and PNG when rsvg-convert exists)."""

    def __init__(self, app: ZmqtuiApp, out: Path) -> None:
        self.app = app
        self.out = out
        self.rsvg = shutil.which("rsvg-convert")

    async def shoot(self, pilot: Pilot, name: str) -> None:
        await pilot.pause(0.3)  # let the last frame paint
        svg = self.out / f"{name}.svg"
        svg.write_text(self.app.export_screenshot(title="zmqtui"), encoding="utf-8")
        if self.rsvg:
            png = svg.with_suffix(".png")
            subprocess.run([self.rsvg, "-o", str(png), str(svg)], check=True)
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
        await until(lambda: composer.history)
        await until(lambda: app.subscriber_pane.received >= 12)
        await camera.shoot(pilot, "monitor")

        composer.fill("src/app.py", 2000, 8)
        composer.action_send()
        await until(lambda: len(composer.history) >= 2 and app.workers_pane.snapshot)
        await asyncio.sleep(2.5)  # two more stats snapshots: the rates fill in
        await camera.shoot(pilot, "load")

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
        await pilot.press("escape")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="zmqtui-shots-") as scratch:
        root = Path(scratch) / "site"
        make_site(root)
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
        app = ZmqtuiApp(bridge, completion_root=root, export_dir=Path(scratch))
        out = args.out.resolve()
        os.chdir(scratch)  # events name files under the watched path as given: site/...
        try:  # the bridge has the cluster started once the first frame is on screen
            asyncio.run(tour(app, root, out))
        finally:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
