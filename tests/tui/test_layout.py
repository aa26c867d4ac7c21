"""Every pane usable at 80x24: fields that give way, columns that drop by priority."""

from __future__ import annotations

from fake_backend import FakeBackend, snapshot
from helpers import wait_for
from textual.widget import Widget
from textual.widgets import Button, Input

from zmqtui.request_spec import RequestSpec
from zmqtui.tui.app import ConnectionBar, ZmqtuiApp
from zmqtui.tui.messages import ClusterExited, SnapshotReceived
from zmqtui.tui.panes.base import OfflineBanner
from zmqtui.tui.panes.composer import ResponseLog
from zmqtui.tui.widgets.key_bar import KeyBar

SMALL = (80, 24)
MIDDLE = (100, 30)
LARGE = (160, 45)


def painted(widget: Widget, y: int = 0) -> str:
    """Line `y` of what `widget` paints now."""
    return "".join(segment.text for segment in widget.render_line(y))


def field_width(app: ZmqtuiApp, field_id: str) -> int:
    """Cells a field has for text (its width less padding and border)."""
    return app.query_one(f"#{field_id}", Input).content_region.width


async def test_the_request_form_gives_way_at_every_size() -> None:
    """At 80x24 the path field had no width and Send showed as "S"; at 100x30 the path was 5
    characters wide; the count scrolled its digits out of view."""
    for size, path_at_least in ((SMALL, 20), (MIDDLE, 30), (LARGE, 40)):
        app = ZmqtuiApp(FakeBackend())
        async with app.run_test(size=size) as pilot:
            app.composer_pane.fill("a.txt", 100_000, 100)
            await pilot.pause()
            assert field_width(app, "composer-path") >= path_at_least, size
            assert field_width(app, "composer-count") > len("100000"), size  # and the cursor
            assert field_width(app, "composer-concurrency") > len("100"), size
            await pilot.press("3", "m")  # maximised, the form has it all on one line
            send = app.query_one("#composer-send", Button)
            assert send.display and send.content_region.width >= len("Send"), size
            assert field_width(app, "composer-path") >= 20, size
            assert "q Quit" in app.query_one(KeyBar).render().plain, size


async def test_a_message_of_many_frames_leaves_the_reply_room_at_80x24() -> None:
    """In the grid the frames keep to one line (the rest scroll); maximised, they show, each
    field wide, and the reply still has its lines."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SMALL) as pilot:
        frames = tuple(f"text:frame {n}" for n in range(1, 7))
        await app.composer_pane.load_request(RequestSpec("tcp://127.0.0.1:1", frames))
        await pilot.pause()
        frame_list = app.composer_pane.frame_list
        response = app.query_one("#composer-response", ResponseLog)
        assert frame_list.size.height == 1 and response.size.height >= 1
        await pilot.press("3", "m")
        await pilot.pause()
        assert frame_list.size.height == 6
        assert all(field.content_region.width >= 40 for field in frame_list.fields)
        assert response.content_region.height >= 8


async def test_a_reply_is_wrapped_again_when_its_panel_widens() -> None:
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SMALL) as pilot:
        response = app.query_one("#composer-response", ResponseLog)
        response.show(["word " * 40])
        await pilot.pause()
        narrow = max(line.cell_length for line in response.lines)
        await pilot.press("3", "m")
        await pilot.pause()
        assert max(line.cell_length for line in response.lines) > narrow + 10


async def test_the_workers_table_drops_columns_by_priority() -> None:
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SMALL) as pilot:
        table = app.workers_pane.table
        await pilot.pause()
        shown = [column.key for column in table.shown_columns]
        assert {"pid", "state", "requests"} <= set(shown)
        assert "memory" not in shown and "cpu" not in shown
        assert sum(c.width + 1 for c in table.shown_columns) - 1 <= table.size.width
        grid = len(table.shown_columns)
        await pilot.press("4", "m")
        await pilot.pause()
        assert len(table.shown_columns) > grid


async def test_a_load_run_shows_its_progress_and_cancel_key_at_80x24() -> None:
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SMALL) as pilot:
        pane = app.composer_pane
        pane.fill("hello.txt", 100_000, 16)
        pane.action_send()
        pane.show_progress(4771, 100_000, send_id=max(pane._in_flight))
        await pilot.press("3")
        await pilot.pause()
        load = app.query_one("#composer-load")
        assert load.content_region.width >= 15  # "4,771 of 100,0…" beside the bar
        assert "x Cancel" in app.query_one(KeyBar).render().plain


async def test_a_failed_send_replaces_its_waiting_line() -> None:
    """A send that broke used to leave "waiting for hello.txt…" in the response panel."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SMALL) as pilot:
        pane = app.composer_pane
        pane.fill("hello.txt")
        pane.action_send()
        response = app.query_one("#composer-response", ResponseLog)
        await pilot.pause()
        assert "waiting for hello.txt" in "".join(line.text for line in response.lines)
        pane.show_failure("hello.txt", 1, "ZMQError: gone", send_id=max(pane._in_flight))
        await pilot.pause()
        shown = "".join(line.text for line in response.lines)
        assert "waiting" not in shown and "failed: ZMQError: gone" in shown


async def test_the_connection_bar_fits_at_80x24() -> None:
    """At 80x24 the bar was cut after `● control`: its state and what runs where were lost.
    Narrow, a working socket says so by its colour alone; every other state keeps its word."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SMALL) as pilot:
        bar = app.query_one(ConnectionBar)
        await pilot.pause()
        line = painted(bar)
        assert "● control" in line and "│ embedded stack on" in line
        bar.set_state("stats", "retrying")
        await pilot.pause()
        assert "● stats retrying" in painted(bar)
        await pilot.resize_terminal(*LARGE)
        await pilot.pause()
        assert "● req connected" in painted(bar)


async def test_the_workers_table_keeps_its_rows_at_80x24() -> None:
    """At 80x24 the table showed 3 workers, and none once the cluster died: the banner's reason
    took three lines. A short pane keeps the header's first two lines; the banner one line,
    whole in its tooltip."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SMALL) as pilot:
        app.post_message(SnapshotReceived(snapshot((5101, 5102, 5103, 5104, 5105))))
        table = app.workers_pane.table
        await wait_for(lambda: len(table.row_keys) == 5)
        await pilot.pause()
        assert table.size.height >= 1 + 5, "the header line and every worker"
        app.post_message(ClusterExited(-9, "killed by SIGKILL", ""))
        banner = app.workers_pane.query_one(OfflineBanner)
        await wait_for(lambda: banner.display)
        await pilot.pause()
        assert banner.size.height == 1 and "killed by SIGKILL" in str(banner.tooltip)
        assert table.size.height >= 1 + 4


async def test_the_lists_reach_their_panes_right_edge() -> None:
    """The publisher's and subscriber's lists stopped 2 columns short of their frame: a widget
    with an `fr` height loses the side margins of its siblings (their input lines) from its
    width in Textual's vertical layout."""
    for size in (SMALL, LARGE):
        app = ZmqtuiApp(FakeBackend())
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            for pane in (app.publisher_pane, app.subscriber_pane):
                assert pane.log_view.region.right == pane.region.right, (size, pane.id)
