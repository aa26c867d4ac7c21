"""Keys are written once, in BINDINGS: the palette, the help and the footer are made from them."""

from __future__ import annotations

import io

from fake_backend import FakeBackend
from helpers import wait_for
from rich.console import Console
from rich.markdown import Markdown
from textual import actions
from textual.binding import Binding
from textual.widgets import Input, Static

from zmqtui.tui.app import VIEWS, ZmqtuiApp
from zmqtui.tui.help import HelpScreen, help_markdown
from zmqtui.tui.keys import KeyEntry, declared_bindings, key_table
from zmqtui.tui.widgets.key_bar import KeyBar

SMALL = (80, 24)
LARGE = (160, 45)


def footer(app: ZmqtuiApp) -> str:
    return app.query_one(KeyBar).render().plain


def palette_titles(app: ZmqtuiApp) -> list[str]:
    return [command.title for command in app.get_system_commands(app.screen)]


async def test_the_palette_lists_each_command_once_and_follows_the_state() -> None:
    """No pair of commands for one thing ("Maximise or restore pane" and Textual's
    "Maximize", "Help" and "Keys"); `m` is Maximise or Restore as the screen is."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=LARGE) as pilot:
        titles = palette_titles(app)
        assert len(titles) == len(set(titles)), titles
        assert not {"Keys", "Maximize", "Minimize"} & set(titles)
        assert "Maximise" in titles and "Restore" not in titles
        assert "Requests: Cancel" not in titles  # nothing in flight
        await pilot.press("3", "m")
        titles = palette_titles(app)
        assert "Restore" in titles and "Maximise" not in titles
        app.composer_pane.fill("a.txt", 10, 2)
        app.composer_pane.action_send()
        await pilot.pause()
        assert "Requests: Cancel" in palette_titles(app)


async def test_every_declared_key_is_in_the_palette_and_the_help() -> None:
    """A key a pane declares (one added later too) needs nothing more to be offered."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=LARGE) as pilot:
        app.composer_pane.fill("a.txt", 10, 2)
        app.composer_pane.action_send()
        await pilot.pause()
        text = help_markdown(app)
        helps = {command.help for command in app.get_system_commands(app.screen)}
        for name in ("publisher", "subscriber", "composer", "workers"):
            pane = app.frame(name).pane
            for binding in declared_bindings(type(pane)):
                shown = app.get_key_display(binding)
                assert f"`{shown}`" in text, (name, binding.key)
                _, action, parameters = actions.parse(binding.action)
                if pane.check_action(action, parameters) is not False:  # usable now
                    assert any(h.startswith(f"{shown}:") for h in helps), (name, binding.key)


async def test_the_help_shows_each_entry_whole() -> None:
    """Every key's text whole; the `n` entry used to be cut at the first `|` of
    `FILE [created|modified|…]`, as any `|` ends a Markdown table cell."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=LARGE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        shown = rendered(app.screen.query_one(Static).content)
        for name in ("publisher", "subscriber", "composer", "workers"):
            for binding in app.pane_bindings(name):
                assert (binding.tooltip or binding.description).replace("`", "") in shown
    piped = KeyEntry(("n",), Binding("n", "x", "X", tooltip="type `FILE [created|deleted]`"))
    assert "type FILE [created|deleted]" in rendered(Markdown(key_table([piped])))


async def test_the_help_has_a_section_for_every_view() -> None:
    """`v` and `l` were listed under the keys only: each view says what it shows, and its keys
    (how to close it), under its own heading as the panes do."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=LARGE):
        text = help_markdown(app)
    for view in VIEWS.values():
        heading = f"## {view.KEY} {view.DESCRIPTION}"
        assert heading in text, heading
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        assert view.HELP and view.HELP in section, view.NAME
        for binding in declared_bindings(view):
            assert f"`{app.get_key_display(binding)}`" in section, (view.NAME, binding.key)


def rendered(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=250, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


async def test_the_footer_shows_the_pane_keys_and_restore() -> None:
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=LARGE) as pilot:
        assert "1234 Panes" in footer(app)
        assert "m Maximise" in footer(app)
        await pilot.press("m")
        assert "m Restore" in footer(app) and "Maximise" not in footer(app)
        await pilot.press("escape")
        assert app.screen.maximized is None and "m Maximise" in footer(app)


async def test_the_views_and_record_keys_show_where_there_is_room() -> None:
    """`t`, `ctrl+r` and the subscriber's `x` were in the help and the palette only: the
    footer shows them while there is room; at 80 columns `t` and `^r` give way first, before
    the focused pane's own keys."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=LARGE) as pilot:
        await pilot.press("2")
        for item in ("x Mark", "t Topics", "^r Record", "p Pause/follow", "q Quit"):
            assert item in footer(app), footer(app)
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("2")
        assert "p Pause/follow" in footer(app) and "Topics" not in footer(app), footer(app)


async def test_the_footer_keeps_the_app_keys_at_80x24() -> None:
    """The subscriber's five keys do not fit beside the app's: they give way, `q Quit` stays."""
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        for item in ("1234 Panes", "f1 Help", "q Quit", "^p palette"):
            assert item in footer(app), footer(app)
        await pilot.press("3", "enter")  # in a field, q types: ctrl+c quits
        assert isinstance(app.focused, Input)
        assert "^c Quit" in footer(app) and "esc Back" in footer(app)


async def test_ctrl_c_quits_even_from_a_text_field() -> None:
    app = ZmqtuiApp(FakeBackend())
    async with app.run_test(size=LARGE) as pilot:
        await pilot.press("3", "enter")
        assert isinstance(app.focused, Input)
        await pilot.press("ctrl+c")
        await wait_for(lambda: not app.is_running)
