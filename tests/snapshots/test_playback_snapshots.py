"""Pictures of `zmqtui --open`: a fixed recording at a time position, small and large.

The recording's own times are on screen (its messages were received on 2026-01-01, shown in
UTC), never now: the app's clock is frozen and no socket is opened.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import settled
from local_playback import LocalPlayback, write_recording
from textual.pilot import Pilot

from zmqtui.tui.playback import PlaybackApp, PositionBar

SMALL = (80, 24)
LARGE = (160, 45)


pytestmark = pytest.mark.usefixtures("utc")


def opened(tmp_path: Path) -> PlaybackApp:
    backend = LocalPlayback(write_recording(tmp_path / "capture.jsonl"))
    app = PlaybackApp(backend, clock=lambda: 1_767_225_600.0, export_dir=tmp_path)
    app.animation_level = "none"
    return app


async def at_twelve_seconds(pilot: Pilot) -> None:
    """Go to +12s (message 23 of 40, a change event; an msgpack and a text one before it)."""
    app = pilot.app
    assert isinstance(app, PlaybackApp)
    await pilot.press("g", *"+12s", "enter")
    while "message 23 of 40" not in str(app.query_one(PositionBar).render()):
        await pilot.pause()
    await settled(pilot)


def test_an_opened_recording_at_a_time_position_80x24(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(opened(tmp_path), terminal_size=SMALL, run_before=at_twelve_seconds)


def test_an_opened_recording_at_a_time_position_large(snap_compare, tmp_path: Path) -> None:
    assert snap_compare(opened(tmp_path), terminal_size=LARGE, run_before=at_twelve_seconds)
