"""The frame clock: one repaint pass for every widget that asked."""

from __future__ import annotations

from helpers import wait_for
from textual.app import App, ComposeResult
from textual.widgets import Static

from zmqtui.tui.widgets.frame_clock import frame_clock


class Painter(App):
    def __init__(self) -> None:
        super().__init__()
        self.painted: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(id="shown")

    def paint_shown(self) -> None:
        self.query_one("#shown", Static)
        self.painted.append("shown")

    def paint_other(self) -> None:
        self.painted.append("other")


async def test_each_waiting_paint_runs_once_on_the_next_frame():
    app = Painter()
    async with app.run_test():
        clock = frame_clock(app)
        clock.request(app.paint_shown)
        clock.request(app.paint_shown)
        clock.request(app.paint_other)
        await wait_for(lambda: len(app.painted) == 2)
        assert app.painted == ["shown", "other"]


async def test_a_paint_whose_widget_was_taken_down_is_skipped():
    """A closing app removes widgets between a paint's request and its frame."""
    app = Painter()
    async with app.run_test():
        clock = frame_clock(app)
        clock.request(app.paint_shown)
        clock.request(app.paint_other)
        await app.query_one("#shown").remove()
        await wait_for(lambda: app.painted == ["other"])
    assert app.return_code in (0, None)
