"""`zmqtui --open`: the keys that move in a recording, the position always shown, the panes that
need sockets hidden with their reason, and the live monitor's keys working on the recording."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import wait_for
from local_playback import LocalPlayback, write_recording
from textual.widgets import Static

from zmqtui.services.playback import index_recording
from zmqtui.tui.backend import NO_SOCKETS
from zmqtui.tui.help import help_markdown
from zmqtui.tui.playback import GoToScreen, PlaybackApp, PositionBar
from zmqtui.tui.playback_bridge import PlaybackBridge
from zmqtui.tui.views.topics import TopicsScreen
from zmqtui.tui.widgets.key_bar import KeyBar

SMALL = (80, 24)


pytestmark = pytest.mark.usefixtures("utc")


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def opened(tmp_path: Path, clock: Clock | None = None) -> tuple[PlaybackApp, LocalPlayback]:
    backend = LocalPlayback(write_recording(tmp_path / "r.jsonl"), clock or Clock())
    return PlaybackApp(backend, clock=lambda: 1_767_225_600.0, export_dir=tmp_path), backend


def bar(app: PlaybackApp) -> str:
    return str(app.query_one(PositionBar).render())


async def test_the_keys_step_go_to_a_time_and_change_speed(tmp_path: Path) -> None:
    app, _ = opened(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(lambda: "message 0 of 40" in bar(app))
        assert "r.jsonl" in bar(app) and "‖ paused 1x" in bar(app)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        await wait_for(lambda: "message 3 of 40" in bar(app))
        assert "00:00:01.503 +0:01.503" in bar(app)  # the recording's own time
        await pilot.press("left_square_bracket")
        await wait_for(lambda: "message 2 of 40" in bar(app))
        await pilot.press("g")
        assert isinstance(app.screen, GoToScreen)
        await pilot.press(*"+10s", "enter")
        await wait_for(lambda: "message 19 of 40" in bar(app))  # received at +9.503 s
        await pilot.press("greater_than_sign", "greater_than_sign", "less_than_sign")
        await wait_for(lambda: "‖ paused 2x" in bar(app))


async def test_a_bad_time_is_told_in_the_dialog_and_escape_stays(tmp_path: Path) -> None:
    app, _ = opened(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(lambda: "message 0 of 40" in bar(app))
        await pilot.press("g", *"soon", "enter")
        screen = app.screen
        assert isinstance(screen, GoToScreen)
        assert "not a time: 'soon'" in str(screen.query_one("#goto-error", Static).render())
        await pilot.press("escape")
        assert not isinstance(app.screen, GoToScreen)
        assert "message 0 of 40" in bar(app)


async def test_space_plays_at_the_speed_and_pauses(tmp_path: Path) -> None:
    clock = Clock()
    app, backend = opened(tmp_path, clock)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(lambda: "message 0 of 40" in bar(app))
        await pilot.press("greater_than_sign", "space")
        await wait_for(lambda: "▶ playing 2x" in bar(app))
        clock.now += 2.1  # 4.2 s of the recording: 8 messages
        backend.moved()
        await wait_for(lambda: "message 8 of 40" in bar(app))
        await pilot.press("space")
        await wait_for(lambda: "‖ paused 2x" in bar(app))


async def test_the_subscriber_pane_lists_the_recording_up_to_the_position(tmp_path: Path) -> None:
    """The live monitor's stream and filter, unchanged: rows, counts, the filter on them."""
    app, backend = opened(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("g", *"#20", "enter")
        await wait_for(lambda: app.subscriber_pane.view is not None)
        await wait_for(lambda: app.subscriber_pane.view.received == 20)
        backend.set_filter("sub", "md.AAPL")
        await wait_for(lambda: app.subscriber_pane.view.shown == 4)
        await pilot.press("left_square_bracket")  # back: the streams start again, filtered
        await wait_for(lambda: app.subscriber_pane.view.received == 19)
        assert app.subscriber_pane.view.shown == 3


async def test_panes_that_need_sockets_are_hidden_and_say_why(tmp_path: Path) -> None:
    app, _ = opened(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        assert not app.frame("composer").display and not app.frame("workers").display
        await pilot.press("3")
        assert app.frame("composer").display
        assert app.composer_pane.offline_reason == NO_SOCKETS["req"]
        assert app.workers_pane.offline_reason == NO_SOCKETS["stats"]
        await pilot.press("m")  # maximised: the position stays on screen
        assert app.query_one(PositionBar).region.height == 1


async def test_the_keys_are_in_the_footer_and_the_help(tmp_path: Path) -> None:
    app, _ = opened(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        footer = app.query_one(KeyBar).render().plain
        assert footer.startswith(" space Play/pause  [] Step  g Go to  <> Speed"), footer
        text = help_markdown(app)
        assert "## A recording (`--open FILE`)" in text
        for key in ("`space`", "`[`", "`]`", "`g`", "`<`", "`>`", "`q`", "`1`"):
            assert key in text, key


async def test_the_topics_view_counts_last_seen_from_the_position(tmp_path: Path) -> None:
    """Not from now: a recording made a year ago shows its topics seen a moment ago."""
    app, backend = opened(tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("g", *"#20", "enter")
        await wait_for(lambda: "message 20 of 40" in bar(app))
        await pilot.press("t")
        position = backend.playback.report()
        screen = app.view(TopicsScreen)
        assert screen is not None and screen.clock() == position.time_ns / 1_000_000_000


@pytest.mark.integration
async def test_the_real_bridge_plays_the_recording_into_the_panes(tmp_path: Path) -> None:
    """The playback bridge and engine (on a thread here), as `zmqtui --open` runs them."""
    path = write_recording(tmp_path / "r.jsonl.zst")
    bridge = PlaybackBridge(path, index_recording(path), ingest_thread=True)
    app = PlaybackApp(bridge, clock=lambda: 1_767_225_600.0, export_dir=tmp_path)
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(lambda: "message 0 of 40" in bar(app), timeout=10)
        await pilot.press("g", *"+10s", "enter")
        await wait_for(lambda: "message 19 of 40" in bar(app), timeout=10)
        await wait_for(lambda: app.subscriber_pane.view and app.subscriber_pane.view.received == 19)
        await pilot.press("left_square_bracket")
        await wait_for(lambda: "message 18 of 40" in bar(app), timeout=10)
        await wait_for(lambda: app.subscriber_pane.view.received == 18)
        assert "tcp://127.0.0.1:60400 · recorded" in str(app.frame("subscriber").border_subtitle)
        await pilot.press(*">" * 8, "space")  # 256x: the rest in a moment
        await wait_for(lambda: "end 256x" in bar(app) and "message 40 of 40" in bar(app), 10)
