"""The view contract: every full-screen view opens and closes by its key, leaves for a pane's
key, and keeps the panes' keys (`m`, `h`) from acting while it covers them."""

from __future__ import annotations

from fake_backend import FakeBackend
from helpers import wait_for

from zmqtui.tui.app import PANES, VIEWS, ZmqtuiApp

SIZE = (100, 30)


async def test_every_view_opens_and_closes_by_its_key_and_a_pane_key_leaves_it() -> None:
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SIZE) as pilot:
        for view in VIEWS.values():
            await pilot.press(view.KEY)
            assert isinstance(app.screen, view)
            await pilot.press("m", "h")  # they act on the panes' screen: not while it is covered
            assert isinstance(app.screen, view) and app.main_screen.maximized is None
            assert all(app.frame(name).display for name in PANES)
            await pilot.press(view.KEY)
            assert len(app.screen_stack) == 1
            await pilot.press(view.KEY, "2")
            assert len(app.screen_stack) == 1
            assert app.focused is app.subscriber_pane.main_control


async def test_a_view_keeps_its_backend_query_alive_only_while_it_is_seen() -> None:
    """The Conversations view stops the tap's polling under the help, and asks again after."""
    backend = FakeBackend()
    app = ZmqtuiApp(backend)

    def last_rows() -> int | None:
        rows = [value for name, value in backend.calls if name == "view_conversations"]
        return rows[-1] if rows else None

    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await wait_for(lambda: (last_rows() or 0) > 0)
        await pilot.press("f1")
        await wait_for(lambda: last_rows() == 0)
        await pilot.press("escape")
        await wait_for(lambda: (last_rows() or 0) > 0)
        await pilot.press("v")
        await wait_for(lambda: last_rows() == 0)
