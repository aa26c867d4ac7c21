"""The whole app on a fake backend: routing, keys, panes, connection states, palette, help."""

from __future__ import annotations

import io

from fake_backend import FakeBackend, capture, event, snapshot
from helpers import wait_for
from rich.console import Console
from textual.command import CommandList
from textual.widgets import Input

from zmqtui.tui.app import ConnectionBar, ZmqtuiApp
from zmqtui.tui.backend import Endpoints
from zmqtui.tui.help import HelpScreen
from zmqtui.tui.messages import (
    BackendProblem,
    ClusterExited,
    ConnectionChanged,
    ControlAnswered,
    EventsPublished,
    LoadFinished,
    LoadProgressed,
    PublisherStatus,
    RequestFinished,
    SnapshotReceived,
)
from zmqtui.tui.panes.base import OfflineBanner
from zmqtui.tui.panes.composer import ComposerPane
from zmqtui.tui.panes.publisher import PublisherPane
from zmqtui.tui.panes.subscriber import SubscriberPane
from zmqtui.tui.panes.workers import WorkersPane

SIZE = (160, 45)


class RecordingApp(ZmqtuiApp):
    """Keeps every notification's text."""

    def __init__(self, backend: FakeBackend) -> None:
        super().__init__(backend, clock=lambda: 1_767_225_600.0)
        self.notices: list[tuple[str, str]] = []

    def notify(self, message: str, **kwargs) -> None:
        self.notices.append((message, kwargs.get("severity", "information")))
        super().notify(message, **kwargs)


def plain(renderable) -> str:
    console = Console(file=io.StringIO(), width=300, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


async def test_backend_messages_reach_their_panes(monkeypatch) -> None:
    backend = FakeBackend()
    app = RecordingApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        calls: list[tuple[str, object]] = []
        composer = app.composer_pane
        monkeypatch.setattr(
            composer, "show_result", lambda r, send_id: calls.append(("result", (r, send_id)))
        )
        monkeypatch.setattr(
            composer, "show_summary", lambda s, send_id: calls.append(("summary", (s, send_id)))
        )
        monkeypatch.setattr(
            composer,
            "show_progress",
            lambda d, t, send_id: calls.append(("progress", (d, t, send_id))),
        )
        app.post_message(EventsPublished([event(1), event(2)]))
        app.post_message(PublisherStatus(2, 1, {b"": 1}))
        backend.add("sub", [capture(event(1))])
        app.post_message(SnapshotReceived(snapshot()))
        app.post_message(RequestFinished("a result", 1))
        app.post_message(LoadProgressed(3, 10, 2))
        app.post_message(LoadFinished("a summary", 2))
        await wait_for(lambda: len(calls) == 3 and app.subscriber_pane.received == 1)
        await pilot.pause()
        assert app.publisher_pane.published == 2 and app.publisher_pane.subscribers == 1
        assert app.subscriber_pane.received == 1
        assert app.workers_pane.snapshot == snapshot()
        assert calls == [
            ("result", ("a result", 1)),
            ("progress", (3, 10, 2)),
            ("summary", ("a summary", 2)),
        ]


async def test_pane_requests_reach_the_backend() -> None:
    backend = FakeBackend()
    app = RecordingApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        app.composer_pane.post_message(ComposerPane.SendRequested("a.txt", 10, 2, 7))
        workers = app.workers_pane
        workers.post_message(WorkersPane.KillRequested(5101))
        workers.post_message(WorkersPane.RestartRequested(5102))
        workers.post_message(WorkersPane.ScaleRequested(3))
        app.subscriber_pane.post_message(SubscriberPane.SubscriptionsChanged(("src/",)))
        app.publisher_pane.post_message(PublisherPane.PublishRequested("x.txt", "created"))
        await wait_for(lambda: len(backend.calls) == 6)
        await pilot.pause()
        assert backend.send_ids == [7]
        assert sorted(backend.calls, key=str) == sorted(
            [
                ("send_request", ("a.txt", 10, 2)),
                ("control", ("kill", {"pid": 5101})),
                ("control", ("restart", {"pid": 5102})),
                ("control", ("scale", {"n": 3})),
                ("set_prefixes", ("src/",)),
                ("publish", ("x.txt", "created", None)),
            ],
            key=str,
        )


async def test_keys_focus_maximise_hide_and_show_panes() -> None:
    app = RecordingApp(FakeBackend())
    async with app.run_test(size=SIZE) as pilot:
        assert app.focused is app.subscriber_pane.log_view
        await pilot.press("1")
        assert app.focused is app.publisher_pane.log_view
        await pilot.press("3", "enter")  # enters the path field
        assert isinstance(app.focused, Input) and app.focused_frame() is app.frame("composer")
        await pilot.press("escape")  # leaves the field, stays in the pane
        assert not isinstance(app.focused, Input) and app.focused_frame() is app.frame("composer")
        await pilot.press("4", "m")
        assert app.focused is app.workers_pane.table
        assert app.screen.maximized is app.frame("workers")
        await pilot.press("escape")
        assert app.screen.maximized is None
        await pilot.press("h")
        assert not app.frame("workers").display
        assert app.focused_frame() is app.frame("publisher")  # the next visible pane
        app.frame("composer").display = False
        app.action_hide_pane()  # the publisher: only the subscriber is left
        await pilot.press("h")
        assert [n for n in ("publisher", "subscriber") if app.frame(n).display] == ["subscriber"]
        assert ("the last pane stays", "warning") in app.notices
        assert not app.query_one("#bottom-row").display  # the top row takes the height
        await pilot.press("4")
        assert app.frame("workers").display and app.query_one("#bottom-row").display
        await pilot.press("0")
        assert all(app.frame(name).display for name in ("publisher", "composer", "workers"))
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_pane_keys_never_fall_into_a_field_the_user_did_not_enter() -> None:
    """After `3`, or after `h` hands focus to the requests pane, the app's and the pane's keys
    act; typing starts with `enter` and ends with `escape`."""
    app = RecordingApp(FakeBackend())
    async with app.run_test(size=SIZE) as pilot:
        frame = app.composer_pane.frame_list.fields[0]
        await pilot.press("3", "m")
        assert app.screen.maximized is app.frame("composer")
        await pilot.press("m", "2", "h")  # the subscriber hides: the requests pane is next
        assert app.focused_frame() is app.frame("composer")
        await pilot.press("1")
        assert app.focused is app.publisher_pane.log_view
        await pilot.press("3", "4")
        assert app.focused is app.workers_pane.table
        assert frame.value == "json:{}"
        await pilot.press("3", "enter", "backspace", *"1}")
        assert app.focused is frame and frame.value == "json:{1}"
        await pilot.press("escape", "2")
        assert app.focused is app.subscriber_pane.log_view and frame.value == "json:{1}"


async def test_command_palette_offers_every_action() -> None:
    app = RecordingApp(FakeBackend())
    async with app.run_test(size=SIZE) as pilot:
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        for title in (
            "Focus publisher pane",
            "Focus subscriber pane",
            "Focus requests pane",
            "Focus workers pane",
            "Help",
            "Maximise",
            "Hide",
            "Show all panes",
            "Quit",
            "Subscriber: Pause/follow",
            "Subscriber: Subscribe",
            "Subscriber: Filter",
            "Subscriber: Export",
            "Subscriber: Clear",
            "Publisher: Publish",
            "Workers: Kill",
            "Workers: Restart",
            "Workers: Scale up",
            "Workers: Scale down",
            "Requests: Send",
        ):
            assert title in commands, title
        commands["Focus workers pane"].callback()
        await pilot.pause()
        assert app.focused is app.workers_pane.table
        await pilot.press("ctrl+p", *"expo")
        await wait_for(lambda: app.screen.query_one(CommandList).option_count)  # searched
        await pilot.press("down", "enter")
        await wait_for(lambda: ("nothing captured yet", "warning") in app.notices)


async def test_a_refused_palette_command_says_why_as_its_key_does() -> None:
    app = RecordingApp(FakeBackend(embedded=False, endpoints=Endpoints(control="ipc:///x")))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(lambda: app.workers_pane.has_class("-offline"))
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Workers: Kill"].callback()
        await pilot.pause()
        reason = "no --stats endpoint given: the cluster's workers are not shown"
        await wait_for(lambda: (f"cannot kill: {reason}", "warning") in app.notices)
        await pilot.press("plus")
        await wait_for(lambda: (f"cannot scale: {reason}", "warning") in app.notices)


async def test_connection_states_are_shown_and_offline_panes_say_so() -> None:
    app = RecordingApp(FakeBackend())
    async with app.run_test(size=SIZE) as pilot:
        bar = app.query_one(ConnectionBar)
        await wait_for(lambda: "● stats connected" in plain(bar.content))
        assert "● pub bound" in plain(bar.content)
        frame = app.frame("workers")
        assert frame.border_subtitle == "tcp://127.0.0.1:60402 · connected"
        app.post_message(ConnectionChanged("stats", "retrying", "tcp://127.0.0.1:60402"))
        await wait_for(lambda: frame.has_class("-bad"))
        assert frame.border_subtitle == "tcp://127.0.0.1:60402 · retrying"
        assert app.workers_pane.has_class("-offline")
        assert "● stats retrying" in plain(bar.content)
        app.post_message(SnapshotReceived(snapshot()))
        app.post_message(ConnectionChanged("stats", "connected", "tcp://127.0.0.1:60402"))
        await wait_for(lambda: frame.has_class("-good"))
        await pilot.pause()
        assert not app.workers_pane.has_class("-offline")


async def test_the_tap_state_leaves_the_connection_bar_alone() -> None:
    """The bar shows no tap socket: its state (the Conversations view's) redraws nothing."""
    app = RecordingApp(FakeBackend())
    async with app.run_test(size=SIZE):
        bar = app.query_one(ConnectionBar)
        await wait_for(lambda: "● stats connected" in plain(bar.content))
        app.post_message(ConnectionChanged("tap", "failed", "tcp://127.0.0.1:60403"))
        await wait_for(lambda: app.connection_states.get("tap") == "failed")
        assert "tap" not in bar.states


async def test_attached_without_some_endpoints() -> None:
    backend = FakeBackend(embedded=False, endpoints=Endpoints(pub="tcp://127.0.0.1:5556"))
    app = RecordingApp(backend)
    async with app.run_test(size=SIZE):
        await wait_for(lambda: app.composer_pane.has_class("-offline"))
        await wait_for(lambda: app.workers_pane.has_class("-offline"))
        assert not app.subscriber_pane.has_class("-offline")
        assert not app.publisher_pane.query_one("#publisher-input").display
        assert "attached (nothing started)" in plain(app.query_one(ConnectionBar).content)
        offline = plain(app.workers_pane.query_one(OfflineBanner).content)
        assert "no --stats endpoint given" in offline
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Publisher: publish by hand" not in commands


async def test_every_pane_keeps_the_pane_contract() -> None:
    """Without any endpoint, each pane says in its banner which option it lacks, as plain
    text, and `1`-`4` focus its main control, never a text field."""
    app = RecordingApp(FakeBackend(embedded=False, endpoints=Endpoints()))
    async with app.run_test(size=SIZE) as pilot:
        options = {"publisher": "--sub", "subscriber": "--sub", "composer": "--req"}
        options["workers"] = "--stats"
        for key, (name, option) in enumerate(options.items(), start=1):
            pane = app.frame(name).pane
            await wait_for(lambda pane=pane: pane.has_class("-offline"))
            banner = pane.query_one(OfflineBanner)
            assert banner.display
            assert plain(banner.content).startswith(f"no {option} endpoint given: ")
            await pilot.press(str(key))
            assert app.focused is pane.main_control
            assert not isinstance(app.focused, Input)
        pane = app.publisher_pane
        pane.set_offline("[bold]gone\x1b[31m")
        await pilot.pause()
        assert plain(pane.query_one(OfflineBanner).content).strip() == "[bold]gone\\x1b[31m"
        pane.set_online()
        await pilot.pause()
        assert not pane.query_one(OfflineBanner).display


async def test_problems_and_control_replies_are_told() -> None:
    app = RecordingApp(FakeBackend())
    async with app.run_test(size=SIZE):
        app.post_message(BackendProblem("the embedded cluster exited with code 2"))
        app.post_message(ControlAnswered("kill", {"ok": True, "message": "killed 5101"}))
        app.post_message(ControlAnswered("scale", {"ok": False, "error": "at most 256"}))
        await wait_for(lambda: len(app.notices) == 3)
        assert app.notices == [
            ("the embedded cluster exited with code 2", "error"),
            ("killed 5101", "information"),
            ("scale: at most 256", "error"),
        ]


async def test_an_exited_cluster_is_named_by_its_signal_and_can_be_restarted() -> None:
    backend = FakeBackend()
    app = RecordingApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(SnapshotReceived(snapshot()))
        app.post_message(ClusterExited(-9, "killed by SIGKILL", "Cluster listening [bold]"))
        await wait_for(lambda: app.notices)
        assert app.notices[0] == (
            "the embedded cluster exited (killed by SIGKILL); R in the workers pane restarts it",
            "error",
        ), "a signal leaves nothing in the log worth showing"
        bar = app.query_one(ConnectionBar)
        assert "the cluster exited (killed by SIGKILL)" in plain(bar.content)
        assert not app.workers_pane.live
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Workers: Restart cluster" in commands
        await pilot.press("4", "R")
        await wait_for(lambda: ("restart_cluster", ()) in backend.calls)
        assert "restarting the cluster" in plain(bar.content)
        await pilot.press("R")  # a restart that failed can be asked for again
        await wait_for(lambda: backend.calls.count(("restart_cluster", ())) == 2)
        app.post_message(SnapshotReceived(snapshot()))
        await wait_for(lambda: "restarting" not in plain(bar.content))
        assert plain(bar.content).rstrip().endswith("embedded stack on /srv/files")
        assert app.workers_pane.live


async def test_attached_there_is_no_cluster_restart_to_offer() -> None:
    app = RecordingApp(FakeBackend(embedded=False))
    async with app.run_test(size=SIZE):
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Workers: Restart cluster" not in commands


async def test_quit_stops_the_backend() -> None:
    backend = FakeBackend()
    app = RecordingApp(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q")
        await wait_for(lambda: not app.is_running)
    assert backend.stopped
