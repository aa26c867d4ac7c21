"""`zmqtui web`: the monitor opened in a real headless Chromium, driven over the DevTools protocol.

The page draws the terminal with xterm.js on a canvas, so its text is not in the DOM: the test
reads what the page's own websocket brings to xterm.js (DevTools' Network events), checks that
xterm.js painted it, and finds the four panes' titles there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from helpers import Processes, free_tcp_ports, wait_for_sync

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,800",
    # The page asks a font host for its font: nothing but loopback is resolved, nothing leaves.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
)
TITLES = ("1 Publisher", "2 Subscriber", "3 Requests", "4 Workers")
_ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


class DevTools:
    """The few DevTools protocol calls the test needs, on one page session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.session: str | None = None
        self.frames: list[bytes] = []
        """Every message the page's websockets received, in order."""
        self._ids = itertools.count(1)
        self._answers: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        answer = self._answers[call_id] = asyncio.get_running_loop().create_future()
        await self.ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(answer, 10)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._answers:
                self._answers.pop(data["id"]).set_result(data)
            elif data.get("method") == "Network.webSocketFrameReceived":
                response = data["params"]["response"]
                payload = response["payloadData"]
                binary = response["opcode"] == 2
                self.frames.append(base64.b64decode(payload) if binary else payload.encode())

    def screen_text(self) -> str:
        """What the page's terminal was sent so far, escape sequences left out."""
        return _ANSI.sub(b"", b"".join(self.frames)).decode("utf-8", "replace")

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def devtools_url(chromium: subprocess.Popen[str], timeout: float = 15) -> str:
    """The browser's DevTools websocket, from the line Chromium prints when it listens."""
    assert chromium.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = chromium.stderr.readline()
        if not line:
            break
        if line.startswith("DevTools listening on "):
            return line.split(" on ", 1)[1].strip()
    raise AssertionError("Chromium did not start its DevTools endpoint")


def page(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.read().decode()
    except OSError:
        return None


@pytest.fixture
def chromium_binary() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run tries)")
    return binary


async def test_monitor_opens_in_a_headless_browser(
    processes: Processes, chromium_binary: str, tmp_path: Path
):
    port, *ends = free_tcp_ports(5)
    attach = [
        f"--{name}=tcp://127.0.0.1:{p}"
        for name, p in zip(("sub", "req", "stats", "control"), ends, strict=True)
    ]
    web = processes.start("web", "--port", str(port), *attach)
    url = f"http://127.0.0.1:{port}/"
    html = await asyncio.to_thread(wait_for_sync, lambda: page(url), 20, 0.1)
    assert "xterm" in html and "https://" not in html  # nothing fetched from other hosts

    profile = tempfile.mkdtemp(prefix="zt-chromium-")
    chromium = subprocess.Popen(
        [chromium_binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        browser_url = await asyncio.to_thread(devtools_url, chromium)
        async with aiohttp.ClientSession() as http, http.ws_connect(browser_url) as ws:
            tools = DevTools(ws)
            try:
                target = await tools.call("Target.createTarget", url="about:blank")
                attached = await tools.call(
                    "Target.attachToTarget", targetId=target["targetId"], flatten=True
                )
                tools.session = attached["sessionId"]
                await tools.call("Network.enable")
                await tools.call("Page.enable")
                await tools.call("Page.navigate", url=url)
                deadline = time.monotonic() + 20
                while not all(title in tools.screen_text() for title in TITLES):
                    assert time.monotonic() < deadline, tools.screen_text()[-2000:]
                    await asyncio.sleep(0.2)
                painted = await tools.call(
                    "Runtime.evaluate",
                    expression="document.body.classList.contains('-first-byte') && "
                    "document.querySelectorAll('.xterm-screen canvas').length",
                    returnByValue=True,
                )
                assert painted["result"]["value"], "xterm.js did not paint the monitor"
                shot = await tools.call("Page.captureScreenshot", format="png")
                (tmp_path / "web.png").write_bytes(base64.b64decode(shot["data"]))
                await tools.call("Page.close")
            finally:
                await tools.close()
    finally:
        chromium.terminate()
        try:
            chromium.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chromium.kill()
            chromium.wait(timeout=5)
        assert chromium.stderr is not None
        chromium.stderr.close()
        shutil.rmtree(profile, ignore_errors=True)
    # The tab closed: the monitor it ran ends, and the server stays up for the next one.
    server = psutil.Process(web.pid)
    await asyncio.to_thread(wait_for_sync, lambda: not server.children(recursive=True), 15, 0.1)
    assert web.poll() is None
