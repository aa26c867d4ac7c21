"""x in the subscriber pane: mark a message, select another, and the detail shows what differs
between the two (fields, coloured by kind, escaped); x on the marked one unmarks it."""

from __future__ import annotations

import json
from pathlib import Path

from fake_backend import T0, SubscriberHost, detail_text, on_screen
from helpers import wait_for
from rich.text import Text

from zmqtui.captures import NS_PER_MS, Capture
from zmqtui.tui.widgets.detail_view import DetailView


def quote(at: int, **fields: object) -> Capture:
    frames = (b"md.AAPL", json.dumps(fields).encode())
    return Capture(frames, (T0 + at) * NS_PER_MS)


QUOTES = [
    quote(0, bid=4, ask=5, venue={"id": "XNAS"}),
    quote(10, bid=5, ask=5, venue={"id": "XNAS", "halted": False}, note="[bold]\x1b[2J"),
    Capture((b"bin", b"\x00\x01"), (T0 + 20) * NS_PER_MS),
]


def styles_of(text: Text, line: str) -> object:
    """The style of the span that holds `line`."""
    start = text.plain.index(line)
    return next(span.style for span in text.spans if span.start <= start < span.end)


def marked_rows(lines: list[str]) -> list[int]:
    return [number for number, line in enumerate(lines) if "◆" in line]


async def test_mark_then_select_another_shows_their_differences(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        app.feed.add("sub", QUOTES)
        await wait_for(lambda: len([line for line in on_screen(pane.log_view) if line]) == 3)
        await pilot.press("home", "x")
        await wait_for(lambda: marked_rows(on_screen(pane.log_view)) == [0])
        assert "◆ marked: select another message to compare it with" in detail_text(app, pane)

        await pilot.press("down")
        await wait_for(lambda: "B selected" in detail_text(app, pane))
        detail = detail_text(app, pane)
        assert "A ◆ marked 00:00:00.000 md.AAPL  B selected 00:00:00.010 md.AAPL" in detail
        assert "1 changed, 2 added, 0 removed" in detail
        assert "frame 0: the same (7 bytes)" in detail
        assert "changed .bid: 4 → 5" in detail
        assert "added .venue.halted: false" in detail
        assert 'added .note: "[bold]\\u001b[2J"' in detail, "plain text, escaped"
        shown = pane.query_one("#subscriber-detail", DetailView).renderable
        assert isinstance(shown, Text)
        assert styles_of(shown, "changed .bid") == pane.pane_style("warning")
        assert styles_of(shown, "added .note") == pane.pane_style("ok")

        await pilot.press("down")  # another: bytes compared, frames only in one
        await wait_for(lambda: "00:00:00.020 bin" in detail_text(app, pane))
        detail = detail_text(app, pane)
        assert "frame 0 · text\n- md.AAPL\n+ bin\nframe 1 · bytes: byte 0 differs" in detail

        await pilot.press("home", "x")  # on the marked one: unmarked
        await wait_for(lambda: marked_rows(on_screen(pane.log_view)) == [])
        await pilot.press("down")
        await wait_for(lambda: "halted" in detail_text(app, pane))
        assert "B selected" not in detail_text(app, pane)


async def test_marking_needs_a_message(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    told: list[str] = []
    app.notify = lambda message, **_: told.append(message)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("x")
        await wait_for(lambda: told == ["select a message to mark first"])


async def test_the_comparison_keeps_the_panes_whole_width(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.pane
        app.feed.add("sub", QUOTES)
        await wait_for(lambda: len([line for line in on_screen(pane.log_view) if line]) == 3)
        detail = pane.query_one("#subscriber-detail", DetailView)
        await pilot.press("home", "x", "down")
        await wait_for(lambda: "B selected" in detail_text(app, pane))
        await pilot.pause()
        assert detail.region.width == pane.log_view.region.width
