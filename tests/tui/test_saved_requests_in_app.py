"""Saved requests and the lasting history in the monitor: save, edit by hand, reload, send;
variables filled on the way out; outcomes kept and resent."""

from __future__ import annotations

from pathlib import Path

from fake_backend import FakeBackend
from helpers import wait_for
from textual.pilot import Pilot
from textual.widgets import Input, OptionList

from zmqtui.collection import load_collection
from zmqtui.history import History, HistoryRecord
from zmqtui.request_spec import RequestSpec
from zmqtui.results import SendResult
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.messages import SendFinished
from zmqtui.tui.panes.composer.library import CollectionTree, HistoryList
from zmqtui.tui.panes.composer.save_dialog import SaveRequestScreen

SIZE = (160, 45)
T0 = 1_767_225_600.0
PING = RequestSpec("tcp://127.0.0.1:5555", ("text:ping",), name="ping")


def monitor(backend: FakeBackend, collection: Path) -> ZmqtuiApp:
    app = ZmqtuiApp(backend, clock=lambda: T0, collection_dir=collection)
    app.animation_level = "none"
    return app


def messages_sent(backend: FakeBackend) -> list[RequestSpec]:
    return [args[0] for call, args in backend.calls if call == "send_message"]


async def send_from_the_form(
    app: ZmqtuiApp, pilot: Pilot, backend: FakeBackend, spec: RequestSpec
) -> HistoryList:
    """Put `spec` in the composer and send it with its key; the history it shows in."""
    await app.composer_pane.load_request(spec)
    app.composer_pane.focus()
    await pilot.press("3", "ctrl+s")
    await wait_for(lambda: backend.send_ids)
    return app.query_one(HistoryList)


def history_lines(history_list: HistoryList) -> list[str]:
    """What each entry of the history says, newest first."""
    return [
        history_list.get_option_at_index(index).prompt.plain
        for index in range(history_list.option_count)
    ]


async def test_saved_in_the_app_edited_by_hand_reloaded_and_sent(tmp_path):
    collection = tmp_path / "zmq-requests"
    collection.mkdir()
    (collection / "environments.toml").write_text("[env.dev]\nhost = '127.0.0.1'\n")
    backend = FakeBackend()
    app = monitor(backend, collection)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.composer_pane
        await composer.load_request(
            RequestSpec("tcp://${host}:60401", ('json:{"path": "README.md"}',), "DEALER")
        )
        composer.focus()
        await pilot.press("3", "w")
        await wait_for(lambda: isinstance(app.screen, SaveRequestScreen))
        app.screen.query_one("#save-name", Input).value = "books/readme"
        await pilot.press("enter")
        await wait_for(lambda: not isinstance(app.screen, SaveRequestScreen))

        saved = collection / "books" / "readme.toml"
        text = saved.read_text()
        assert text == (
            "endpoint = 'tcp://${host}:60401'\n"
            "socket = 'DEALER'\n"
            "frames = [\n"
            """    'json:{"path": "README.md"}',\n"""
            "]\n"
        )
        # as a user would in a text editor: another path, a second frame, REQ
        saved.write_text(
            text.replace("README.md", "docs/intro.md")
            .replace("socket = 'DEALER'\n", "")
            .replace("]\n", "    'text:extra',\n]\n")
        )
        await pilot.press("f5")
        tree = app.query_one(CollectionTree)
        leaf = tree.root.children[0].children[0]
        assert leaf.data.spec.frames == ('json:{"path": "docs/intro.md"}', "text:extra")

        tree.focus()
        tree.move_cursor(leaf)
        await pilot.press("enter")
        await wait_for(lambda: composer.current_request().frames[-1] == "text:extra")
        assert composer.current_request().socket == "REQ"
        await pilot.press("ctrl+s")
        await wait_for(lambda: messages_sent(backend))

    assert messages_sent(backend) == [
        RequestSpec(
            "tcp://127.0.0.1:60401",
            ('json:{"path": "docs/intro.md"}', "text:extra"),
            "REQ",
            "books/readme",
        )
    ]


async def test_an_unknown_variable_is_named_and_nothing_is_sent(tmp_path):
    backend = FakeBackend()
    app = monitor(backend, tmp_path / "none")
    async with app.run_test(size=SIZE) as pilot:
        composer = app.composer_pane
        await composer.load_request(RequestSpec("tcp://${host}:1", ("text:${id}",)))
        composer.focus()
        await pilot.press("3", "ctrl+s")
        status = composer.query_one("#composer-status")
        await wait_for(lambda: "unknown variable" in str(status.render()))
        assert "${host} in the endpoint, ${id} in frame 1" in str(status.render())
    assert messages_sent(backend) == []


async def test_outcomes_are_kept_across_runs_and_resent_with_r(tmp_path):
    backend = FakeBackend()
    app = monitor(backend, tmp_path / "none")
    async with app.run_test(size=SIZE) as pilot:
        history_list = await send_from_the_form(app, pilot, backend, PING)
        app.post_message(SendFinished(SendResult([b"text:pong"], 1.25, 1), backend.send_ids[0]))
        await wait_for(
            lambda: history_list.records and isinstance(history_list.records[0], HistoryRecord)
        )
        await app.workers.wait_for_complete()

    (kept,) = History().load()
    assert (kept.spec, kept.reply, kept.latency_ms, kept.error) == (
        PING,
        "text:text:pong",
        1.25,
        None,
    )
    assert kept.sent_ms == T0 * 1000

    backend = FakeBackend()
    app = monitor(backend, tmp_path / "none")
    async with app.run_test(size=SIZE) as pilot:
        history_list = app.query_one(HistoryList)
        assert [r.spec for r in history_list.records] == [PING]
        history_list.focus()
        await pilot.press("r")
        await wait_for(lambda: messages_sent(backend))
    assert messages_sent(backend) == [PING]


async def test_a_send_shows_in_the_one_history_in_flight_then_with_its_outcome(tmp_path):
    """The history beside the collection is the only one: a send shows there as it goes (it
    used to appear only once it had an outcome, in flight only in a second list)."""
    backend = FakeBackend()
    app = monitor(backend, tmp_path / "none")
    async with app.run_test(size=SIZE) as pilot:
        history_list = await send_from_the_form(app, pilot, backend, PING)
        await wait_for(lambda: history_list.option_count == 1)
        assert history_lines(history_list) == ["ping\n… in flight"]
        assert len(app.query(OptionList)) == 1, "one history list"
        app.post_message(SendFinished(SendResult([b"pong"], 1.25, 1), backend.send_ids[0]))
        await wait_for(lambda: isinstance(history_list.records[0], HistoryRecord))
        assert history_lines(history_list) == ["ping\n✓ 1.2 ms text:pong"]
        await app.workers.wait_for_complete()
    (kept,) = History().load()
    assert (kept.spec, kept.reply) == (PING, "text:pong")


async def test_a_variable_stands_as_a_json_number_checked_with_the_environment(tmp_path):
    """`json:{"id": ${n}}` is JSON once filled: the form checks it filled from the chosen
    environment, says which variable breaks it in another, and sends it filled; a saved
    request's `@file` is read beside its file, wherever the monitor runs."""
    collection = tmp_path / "zmq-requests"
    collection.mkdir()
    (collection / "environments.toml").write_text("[env.dev]\nn = 42\n[env.bad]\nn = 'x'\n")
    (collection / "with-body.toml").write_text("endpoint = 'tcp://h:1'\nframes = ['@body.bin']\n")
    (collection / "body.bin").write_bytes(b"B")
    backend = FakeBackend()
    app = monitor(backend, collection)
    async with app.run_test(size=SIZE) as pilot:
        composer = app.composer_pane
        await composer.load_request(RequestSpec("tcp://h:1", ('json:{"id": ${n}}',)))
        field = composer.frame_list.fields[0]
        await wait_for(lambda: field.variables == {"n": "42"})
        assert field.error is None
        composer.focus()
        await pilot.press("3", "e")  # the environment `bad`
        await wait_for(lambda: field.error is not None)
        assert field.error.offset == len('json:{"id": ')
        assert "${n} is 'x' here" in field.error.reason
        await pilot.press("ctrl+s")
        assert messages_sent(backend) == []
        await pilot.press("escape", "e", "ctrl+s")  # out of the field marked, back to `dev`
        await wait_for(lambda: messages_sent(backend))
        assert messages_sent(backend)[0].frames == ('json:{"id": 42}',)

        await composer.load_request(load_collection(collection).get("with-body"))
        assert composer.frame_list.fields[0].value == f"@{collection}/body.bin"
        assert composer.frame_list.fields[0].error is None
