"""The saved-requests tree and the lasting history beside the composer, on files in tmp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import plain, wait_for
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Input, Static

from zmqtui.collection import VariableError
from zmqtui.history import History, HistoryRecord
from zmqtui.request_spec import RequestSpec
from zmqtui.tui.panes.composer.library import CollectionTree, HistoryList, RequestLibrary
from zmqtui.tui.panes.composer.save_dialog import SaveRequestScreen

ENVIRONMENTS = "[env.dev]\nhost = '127.0.0.1'\n[env.prod]\nhost = '10.0.0.5'\n"


def make_collection(root: Path) -> Path:
    """Two folders, three requests, a broken file and two environments."""
    (root / "books").mkdir(parents=True)
    (root / "admin").mkdir()
    (root / "environments.toml").write_text(ENVIRONMENTS)
    (root / "ping.toml").write_text("endpoint = 'tcp://${host}:1'\nframes = ['text:ping']\n")
    (root / "books" / "readme.toml").write_text(
        "endpoint = 'tcp://${host}:60401'\nframes = ['json:{\"path\": \"README.md\"}']\n"
    )
    (root / "books" / "many.toml").write_text(
        "endpoint = 'tcp://${host}:60401'\nsocket = 'DEALER'\nframes = ['text:a', 'text:b']\n"
    )
    (root / "admin" / "broken.toml").write_text("endpoint = 'tcp://x:1\nframes = [\n")
    return root


def record(name: str, **outcome) -> HistoryRecord:
    spec = RequestSpec(f"tcp://127.0.0.1:1/{name}", (f"text:{name}",), name=name)
    return HistoryRecord(spec, 1_700_000_000_000, **outcome)


class Host(App[None]):
    def __init__(self, root: Path, history: History | None = None) -> None:
        super().__init__()
        self.root = root
        self.history = history

    def compose(self) -> ComposeResult:
        yield RequestLibrary(self.root, self.history, id="library")


def posted(messages: list[Message], kind: type) -> list:
    return list({id(m): m for m in messages if isinstance(m, kind)}.values())


def tree_text(app: App) -> list[str]:
    tree = app.query_one(CollectionTree)
    lines = []

    def walk(node, depth):
        lines.append("  " * depth + node.label.plain)
        for child in node.children:
            walk(child, depth + 1)

    walk(tree.root, 0)
    return lines


async def test_the_tree_shows_folders_requests_and_why_a_file_is_broken(tmp_path):
    app = Host(make_collection(tmp_path / "zmq-requests"))
    async with app.run_test():
        assert tree_text(app) == [
            "zmq-requests  env dev",
            "  admin/",
            """    ✗ broken  not valid TOML: Expected "'" (at end of document)""",
            "  books/",
            "    many  DEALER",
            "    readme",
            "  ping",
        ]
    assert (tmp_path / "zmq-requests" / "admin" / "broken.toml").read_text().startswith("endp")


async def test_choosing_a_saved_request_posts_it_unfilled(tmp_path):
    messages: list[Message] = []
    app = Host(make_collection(tmp_path / "c"))
    async with app.run_test(message_hook=messages.append) as pilot:
        app.query_one(CollectionTree).focus()
        await pilot.press("down", "down", "down", "down", "enter")
        await pilot.pause()
        (chosen,) = posted(messages, RequestLibrary.RequestChosen)
        assert chosen.spec == RequestSpec(
            "tcp://${host}:60401", ("text:a", "text:b"), "DEALER", "books/many"
        )
        library = app.query_one(RequestLibrary)
        assert library.fill(chosen.spec).endpoint == "tcp://127.0.0.1:60401"
        assert library.cycle_environment() == "prod"
        assert library.fill(chosen.spec).endpoint == "tcp://10.0.0.5:60401"
        assert tree_text(app)[0] == "c  env prod"


async def test_an_unknown_variable_is_an_error_naming_it(tmp_path):
    app = Host(tmp_path / "none")
    async with app.run_test():
        library = app.query_one(RequestLibrary)
        with pytest.raises(VariableError, match=r"\$\{host\} in the endpoint"):
            library.fill(RequestSpec("tcp://${host}:1", ("x",)))
        assert tree_text(app) == ["none  empty"]


async def test_search_filters_the_tree_and_the_history(tmp_path):
    history = History(tmp_path / "history.jsonl")
    history.append(record("readme-old", reply="text:x", latency_ms=1.0))
    history.append(record("other", error="no reply"))
    app = Host(make_collection(tmp_path / "c"), history)
    async with app.run_test() as pilot:
        await pilot.click("#library-search")
        await pilot.press(*"readme")
        await pilot.pause()
        assert tree_text(app) == ["c  env dev", "  books/", "    readme"]
        assert [r.spec.name for r in app.query_one(HistoryList).records] == ["readme-old"]

        await pilot.press("enter")  # to the first match, never a send
        assert app.query_one(CollectionTree).has_focus
        assert app.query_one(CollectionTree).cursor_node.data.name == "books/readme"


async def test_history_lasts_and_r_resends_as_sent(tmp_path):
    history = History(tmp_path / "history.jsonl")
    history.append(record("first", reply="text:ok", latency_ms=2.5))
    messages: list[Message] = []
    app = Host(tmp_path / "c", history)
    async with app.run_test(message_hook=messages.append) as pilot:
        library = app.query_one(RequestLibrary)
        library.record(record("second", error="no reply after 3 tries"))
        history_list = app.query_one(HistoryList)
        shown = [plain(history_list.get_option_at_index(i).prompt) for i in range(2)]
        assert shown == ["second\n✗ no reply after 3 tries\n", "first\n✓ 2.5 ms text:ok\n"]

        history_list.focus()
        await pilot.press("down", "r")
        await pilot.pause()
        (resend,) = posted(messages, RequestLibrary.ResendWanted)
        assert resend.spec.name == "first"

        await pilot.press("enter")
        await pilot.pause()
        (chosen,) = posted(messages, RequestLibrary.RequestChosen)
        assert chosen.spec.name == "first"
        await app.workers.wait_for_complete()

    assert [r.spec.name for r in History(tmp_path / "history.jsonl").load()] == ["second", "first"]


async def test_the_save_dialog_says_where_and_why_not(tmp_path):
    root = make_collection(tmp_path / "c")
    spec = RequestSpec("tcp://127.0.0.1:9", ("text:hi",))
    app = Host(root)
    async with app.run_test() as pilot:
        library = app.query_one(RequestLibrary)
        names: list[str | None] = []
        app.push_screen(
            SaveRequestScreen(root, "books/readme", lambda name: library.save(name, spec)),
            names.append,
        )
        await pilot.pause()
        where = app.screen.query_one("#save-where", Static)
        assert str(where.render()).startswith(f"enter replaces {root / 'books/readme.toml'}")

        name = app.screen.query_one("#save-name", Input)
        name.value = "admin/broken"
        await pilot.press("enter")
        assert "cannot be read" in str(where.render())
        assert isinstance(app.screen, SaveRequestScreen)

        name.value = "../out"
        await pilot.pause()
        assert where.has_class("-error")

        name.value = "new/hello"
        await pilot.press("enter")
        await wait_for(lambda: names == ["new/hello"])
        assert tree_text(app)[-3:] == ["  new/", "    hello", "  ping"]
    assert (root / "new" / "hello.toml").read_text() == (
        "endpoint = 'tcp://127.0.0.1:9'\nframes = [\n    'text:hi',\n]\n"
    )
