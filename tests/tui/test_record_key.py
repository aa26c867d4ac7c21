"""ctrl+r in the monitor: records the feed on the ingest side, shows the count and size while it
runs, says where the file is (escaped); on a scripted backend and on the real bridge."""

from __future__ import annotations

from pathlib import Path

import pytest
import zmq
import zmq.asyncio
from fake_backend import FakeBackend
from helpers import bound, wait_for
from local_playback import write_recording

from zmqtui.captures import RecordingStatus
from zmqtui.recording import read_recording
from zmqtui.services.playback import index_recording
from zmqtui.tui.app import ConnectionBar, ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.bridge import ZmqBridge
from zmqtui.tui.messages import RecordingChanged
from zmqtui.tui.playback import PlaybackApp
from zmqtui.tui.playback_bridge import PlaybackBridge

SIZE = (120, 30)
NOW = 1_767_225_600.0


class TellingApp(ZmqtuiApp):
    """Keeps every notification's text and severity."""

    def __init__(self, backend, **options) -> None:
        super().__init__(backend, clock=lambda: NOW, **options)
        self.told: list[tuple[str, str]] = []

    def notify(self, message: str, **options) -> None:
        self.told.append((message, options.get("severity", "information")))
        super().notify(message, **options)


def bar_text(app: ZmqtuiApp) -> str:
    return str(app.query_one(ConnectionBar).content)


async def test_the_key_starts_and_stops_and_the_bar_shows_count_and_size(tmp_path: Path) -> None:
    backend = FakeBackend()
    app = TellingApp(backend, export_dir=tmp_path, record_compressed=False)
    path = tmp_path / "zmqtui-recording-20260101-000000.jsonl"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        assert backend.calls[-1] == ("start_recording", (tmp_path, NOW, False))
        app.post_message(RecordingChanged(RecordingStatus(1, path, 0, 0)))
        app.post_message(RecordingChanged(RecordingStatus(1, path, 1234, 56_789)))
        await wait_for(lambda: "⏺ rec 1,234 messages 55.5K │" in bar_text(app))
        assert app.told[0] == (
            f"recording every message of every feed to {path} (ctrl+r stops)",
            "information",
        )
        await pilot.press("ctrl+r")
        assert backend.calls[-1] == ("stop_recording", ())
        app.post_message(RecordingChanged(RecordingStatus(1, path, 1300, 60_000, done=True)))
        await wait_for(lambda: "rec" not in bar_text(app))
        assert app.told[-1] == (f"recorded 1,300 messages (58.6K) to {path}", "information")
        await pilot.press("ctrl+r")  # again: a new recording
        assert backend.calls[-1][0] == "start_recording"


async def test_a_recording_that_cannot_start_or_fails_is_told(tmp_path: Path) -> None:
    app = TellingApp(FakeBackend(), export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        why = "cannot record to /x: Permission denied"
        app.post_message(RecordingChanged(RecordingStatus(1, None, done=True, error=why)))
        await wait_for(lambda: app.told)
        assert app.told == [(why, "error")]
        await pilot.press("ctrl+r")  # it never ran: the key starts again
        assert app.backend.calls[-1][0] == "start_recording"
        path = tmp_path / "r.jsonl.zst"
        app.post_message(RecordingChanged(RecordingStatus(2, path, 5, 100)))
        full = "writing r.jsonl.zst failed: No space left on device"
        app.post_message(RecordingChanged(RecordingStatus(2, path, 9, 100, True, full)))
        await wait_for(lambda: len(app.told) == 3)
        assert app.told[-1] == (
            f"recording stopped: {full}; 9 messages (100B) kept in {path}",
            "error",
        )
        assert "rec" not in bar_text(app)


async def subscribed_to_everything(xpub: zmq.asyncio.Socket) -> None:
    """Wait until `xpub` holds a subscription to everything: the SUB is "connected" before its
    subscription arrives, and what is published before then is dropped (slow joiner)."""
    held: set[bytes] = set()
    while b"" not in held:
        assert await xpub.poll(10_000), f"no subscription to everything; held {held}"
        message = await xpub.recv()
        (held.add if message[:1] == b"\x01" else held.discard)(message[1:])


@pytest.mark.integration
async def test_records_every_message_of_the_live_feed_and_says_where(
    actx: zmq.asyncio.Context, ipc_endpoint, tmp_path: Path
) -> None:
    """Whatever the subscriber pane subscribes to; the directory's name escaped when told."""
    endpoint = ipc_endpoint("feed")
    xpub = bound(actx, zmq.XPUB, endpoint)
    xpub.setsockopt(zmq.XPUB_NODROP, 1)
    directory = tmp_path / "caps\x1b[31m[bold]"
    bridge = ZmqBridge(Endpoints(pub=endpoint), ingest_thread=True)
    app = TellingApp(bridge, export_dir=directory, record_compressed=False)
    sent = [[b"md.AAPL", b'{"bid": 1}'], [b"[bold]\xff"], [b"log", b"", b"\x1b[31m"]]
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(lambda: app.connection_states["sub"] == "connected", 10)
            app.subscriber_pane.post_message(
                app.subscriber_pane.SubscriptionsChanged(("{nothing",))
            )
            await pilot.press("ctrl+r")
            await wait_for(lambda: "⏺ rec 0 messages" in bar_text(app), 10)
            await subscribed_to_everything(xpub)
            for frames in sent:
                await xpub.send_multipart(frames)
            await wait_for(lambda: "⏺ rec 3 messages" in bar_text(app), 10)
            await pilot.press("ctrl+r")
            await wait_for(lambda: "rec" not in bar_text(app), 10)
            await wait_for(lambda: app.told[-1][0].startswith("recorded 3 messages"), 10)
            await pilot.press("q")
    finally:
        xpub.close(linger=0)
    [path] = directory.glob("zmqtui-recording-*.jsonl")
    assert [list(m.frames) for m in read_recording(path)[1]] == sent
    shown = str(path).replace("\x1b", "\\x1b")
    assert app.told[0][0] == f"recording every message of every feed to {shown} (ctrl+r stops)"
    assert app.told[-1][0].endswith(f" to {shown}") and "\x1b" not in app.told[-1][0]


async def test_with_open_the_key_says_the_file_is_a_recording_already(tmp_path: Path) -> None:
    recording = write_recording(tmp_path / "r.jsonl")
    bridge = PlaybackBridge(recording, index_recording(recording), ingest_thread=True)
    told: list[tuple[str, str]] = []

    class TellingPlayback(PlaybackApp):
        def notify(self, message: str, **options) -> None:
            told.append((message, options.get("severity", "information")))
            super().notify(message, **options)

    app = TellingPlayback(bridge, clock=lambda: NOW, export_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+r")
        await wait_for(lambda: told)
        assert told == [
            (
                "ctrl+r records live feeds; this is a recording already (e exports what is held)",
                "error",
            )
        ]
        await pilot.press("ctrl+r")  # nothing was started: again, the same
        await wait_for(lambda: len(told) == 2)
    assert list(tmp_path.iterdir()) == [recording]
