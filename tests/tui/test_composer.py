"""The request composer on scripted results: form, validation, completion, replies, history."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from fake_backend import FakeBackend
from helpers import wait_for
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Input, ProgressBar, RichLog, Static

from zmqtui.protocol import ErrorReply, FileReply
from zmqtui.results import LoadSummary, RequestResult
from zmqtui.tui.app import ZmqtuiApp
from zmqtui.tui.messages import LoadProgressed, SendFailed
from zmqtui.tui.panes.base import OfflineBanner
from zmqtui.tui.panes.composer import ComposerPane
from zmqtui.tui.panes.composer.library import HistoryList
from zmqtui.tui.panes.composer.paths import complete_path
from zmqtui.tui.panes.composer.render import MAX_SHOWN_LINES, Palette, render_result


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A directory as the filer would serve it, and a secret next to it."""
    root = tmp_path / "root"
    (root / "src" / "lib").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / "src" / "api.json").write_text("{}\n")
    (root / "README.md").write_text("# hi\n")
    (root / ".env").write_text("SECRET=1\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("no\n")
    os.symlink(tmp_path / "outside", root / "link")
    return root


class Host(App[None]):
    def __init__(self, root: Path | None = None) -> None:
        super().__init__()
        self.root = root

    def compose(self) -> ComposeResult:
        yield ComposerPane(self.root)


def sends(messages: list[Message]) -> list[ComposerPane.SendRequested]:
    """SendRequested messages, each once (the hook sees every hop it bubbles)."""
    unique = {id(m): m for m in messages if isinstance(m, ComposerPane.SendRequested)}
    return list(unique.values())


def sent(messages: list[Message]) -> list[tuple[str, int, int]]:
    """SendRequested messages as tuples, each once."""
    return [(m.path, m.count, m.concurrency) for m in sends(messages)]


def response_text(app: App) -> str:
    return "\n".join(strip.text.rstrip() for strip in app.query_one(RichLog).lines)


def status_text(app: App) -> str:
    return str(app.query_one("#composer-status", Static).render())


def result(path: str, reply, tries: int = 1, error: str | None = None) -> RequestResult:
    return RequestResult(path=path, reply=reply, latency_ms=3.25, tries=tries, error=error)


def summary(path: str, count: int, concurrency: int = 2, replies: int | None = None):
    replies = count if replies is None else replies
    return LoadSummary(
        endpoint="tcp://127.0.0.1:1",
        path=path,
        count=count,
        concurrency=concurrency,
        sent=count,
        replies=replies,
        replies_by_pid=Counter({4101: replies}),
        elapsed_s=0.5,
        latencies_ms=[1.0] * replies,
    )


def load_text(app: App) -> str | None:
    """What the status line says about load runs in flight (None: it shows none)."""
    line = app.query_one("#composer-status-line")
    shown = line.has_class("-loading") and app.query_one(ProgressBar).display
    return str(app.query_one("#composer-load", Static).render()) if shown else None


def in_flight(pane: ComposerPane) -> list[int]:
    """The ids of the sends waiting for their outcome, oldest first."""
    return list(pane._in_flight)


def history_lines(app: App) -> list[str]:
    """The second line (in flight, or the outcome) of each entry of the one history, newest
    first."""
    history = app.query_one(HistoryList)
    return [
        history.get_option_at_index(index).prompt.plain.split("\n")[1]
        for index in range(history.option_count)
    ]


class TestCompletion:
    def test_completes_names_under_the_root(self, served: Path):
        assert complete_path(served, "sr") == "src/"
        assert complete_path(served, "src") == "src/"
        assert complete_path(served, "src/ap") == "src/api.json"
        assert complete_path(served, "src/app") == "src/app.py"
        assert complete_path(served, "src/l") == "src/lib/"
        assert complete_path(served, "R") == "README.md"

    def test_hidden_names_only_when_asked_for(self, served: Path):
        assert complete_path(served, ".") == ".env"
        assert complete_path(served, "") is None
        assert complete_path(served, "README.md") is None
        assert complete_path(served, "nothing") is None

    def test_never_looks_outside_the_root(self, served: Path):
        assert complete_path(served, "../") is None
        assert complete_path(served, "../outside/s") is None
        assert complete_path(served, "src/../../outside/s") is None
        assert complete_path(served, "link/s") is None
        assert complete_path(served, "/etc/pas") is None
        assert complete_path(served, "li") == "link", "a symlink is offered as what it is"

    async def test_right_arrow_accepts_the_suggestion(self, served: Path):
        app = Host(served)
        async with app.run_test() as pilot:
            app.query_one(ComposerPane).fill("")
            path = app.query_one("#composer-path", Input)
            path.focus()
            await pilot.press("s", "r")
            await pilot.pause()
            await pilot.press("right")
            assert path.value == "src/"


class TestSend:
    async def test_enter_in_the_path_sends_one_request(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            app.query_one(ComposerPane).main_control.focus()
            await pilot.press("ctrl+f")  # the book's file request, its path focused
            assert app.focused is app.query_one("#composer-path", Input)
            await pilot.press(*"src/r.py", "enter")
            await pilot.pause()
            assert sent(messages) == [("src/r.py", 1, 1)], "'r' in the input is text, not resend"
            assert in_flight(app.query_one(ComposerPane)) == [sends(messages)[0].send_id]
            assert "waiting for src/r.py" in response_text(app)

    async def test_ctrl_s_sends_count_and_concurrency(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            app.query_one(ComposerPane).fill("a.txt", 250, 8)
            app.query_one("#composer-count", Input).focus()
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert sent(messages) == [("a.txt", 250, 8)]

    async def test_each_send_has_its_own_id_even_when_the_same(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            pane = app.query_one(ComposerPane)
            pane.fill("a.txt", 5, 2)
            pane.action_send()
            pane.action_send()
            await pilot.pause()
            ids = [m.send_id for m in sends(messages)]
            assert len(ids) == 2 and len(set(ids)) == 2 and None not in ids
            assert in_flight(pane) == ids

    async def test_an_invalid_form_is_refused_with_reasons(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(message_hook=messages.append) as pilot:
            app.query_one(ComposerPane).fill("a.txt", 0, 1000)
            await pilot.pause()  # the form is laid out for the pane's width
            await pilot.click("#composer-send")
            await pilot.pause()
            assert sent(messages) == []
            assert status_text(app) == "count: 1 to 100,000; concurrency: 1 to 100"
            assert app.query_one("#composer-count", Input).has_class("-invalid")
            assert app.query_one("#composer-concurrency", Input).has_class("-invalid")
            assert app.focused is app.query_one("#composer-count", Input)
            app.query_one(ComposerPane).fill("", 1, 1)
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert sent(messages) == []
            assert status_text(app) == "path: required"
            assert app.focused is app.query_one("#composer-path", Input)

    async def test_a_refusal_shows_while_a_load_runs_then_the_load_again(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.query_one(ComposerPane)
            pane.fill("README.md", 10, 2)
            pane.action_send()
            pane.show_progress(4, 10, send_id=in_flight(pane)[0])
            await pilot.pause()
            assert load_text(app) == "4 of 10 answered for README.md"
            pane.fill("README.md", 0, 2)
            pane.action_send()
            await pilot.pause()
            status = app.query_one("#composer-status", Static)
            assert status_text(app).startswith("count: 1 to")
            assert status.display and status.region.width > 20 and load_text(app) is None
            pane.fill("README.md", 1, 1)
            pane.action_send()
            await pilot.pause()
            assert load_text(app) == "4 of 10 answered for README.md"


class TestResults:
    async def test_a_reply_is_highlighted_with_pid_latency_and_tries(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.query_one(ComposerPane)
            pane.fill("app.py")
            pane.action_send()
            content = "x = '[bold]not markup[/bold]'\nesc = '\x1b[31m'\n"
            pane.show_result(result("app.py", FileReply(content, 1, 4101)))
            await pilot.pause()
            text = response_text(app)
            assert "✔ app.py" in text
            assert "pid 4101  latency 3.2 ms  tries 1" in text
            assert "as python" in text
            assert "[bold]not markup[/bold]" in text
            assert "\\x1b[31m" in text and "\x1b" not in text
            assert in_flight(pane) == [], "the oldest send in flight for its path is settled"

    async def test_an_error_reply_shows_its_code_and_message(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.query_one(ComposerPane)
            pane.fill("nope")
            pane.action_send()
            reply = ErrorReply("NOT_FOUND", "no such file: nope", 1, 4102)
            pane.show_result(result("nope", reply))
            await pilot.pause()
            assert "✖ NOT_FOUND  no such file: nope" in response_text(app)
            assert in_flight(pane) == []

    async def test_no_answer_says_unavailable_after_3_tries(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.query_one(ComposerPane)
            pane.show_result(result("x", None, tries=3, error="unavailable after 3 tries"))
            await pilot.pause()
            text = response_text(app)
            assert "✖ unavailable after 3 tries" in text
            assert "tries 3" in text

    async def test_a_load_shows_progress_then_its_summary(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.query_one(ComposerPane)
            pane.fill("README.md", 10, 2)
            pane.action_send()
            (send_id,) = in_flight(pane)
            await pilot.pause()
            assert load_text(app) is None, "no bar before the first progress"
            pane.show_progress(4, 10, send_id=send_id)
            await pilot.pause()
            bar = app.query_one(ProgressBar)
            assert bar.progress == 4 and bar.total == 10
            assert load_text(app) == "4 of 10 answered for README.md"
            summary = LoadSummary(
                endpoint="tcp://127.0.0.1:1",
                path="README.md",
                count=10,
                concurrency=2,
                sent=10,
                replies=8,
                replies_by_pid=Counter({4101: 6, 4102: 4}),
                errors_by_code=Counter({"TOO_LARGE": 2}),
                elapsed_s=0.5,
                latencies_ms=[float(n) for n in range(1, 11)],
            )
            pane.show_summary(summary, send_id=send_id)
            await pilot.pause()
            assert load_text(app) is None
            text = response_text(app)
            assert "answered 10  in 0.50 s  rate 20.0 req/s" in text
            assert "p50 5.0  p90 9.0  p99 10.0  max 10.0" in text
            assert "TOO_LARGE  2" in text
            assert "4101  " in text and " 6" in text
            assert in_flight(pane) == []

    async def test_offline_banner_comes_and_goes(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(ComposerPane)
            pane.set_offline("no requests endpoint [bold]given")
            await pilot.pause()
            banner = app.query_one(OfflineBanner)
            assert banner.display and str(banner.render()) == "no requests endpoint [bold]given"
            pane.set_online()
            await pilot.pause()
            assert not banner.display


def test_a_long_file_is_shown_in_part_and_says_so():
    content = "".join(f"line {n}\n" for n in range(MAX_SHOWN_LINES + 100))
    shown = render_result(result("big.txt", FileReply(content, 1, 7)), Palette(*[Style()] * 4))
    notes = [item.plain for item in shown if isinstance(item, Text)]
    assert f"showing the start: {MAX_SHOWN_LINES} of {MAX_SHOWN_LINES + 100:,} lines" in notes
    assert "as text" in notes[1]


def test_a_malformed_reply_shows_what_arrived_safely():
    arrived = RequestResult(
        path="a",
        reply=None,
        latency_ms=1.0,
        tries=1,
        error="malformed reply: not UTF-8 JSON",
        raw=b"<html>[bold]\x1b[1m\xff",
    )
    shown = render_result(arrived, Palette(*[Style()] * 4))
    lines = [item.plain for item in shown if isinstance(item, Text)]
    assert lines[0] == "✖ malformed reply: not UTF-8 JSON"
    assert lines[-2:] == ["what arrived:", "<html>[bold]\\x1b[1m\\xff"]


class TestHistory:
    async def test_enter_recalls_and_r_resends_as_sent(self):
        backend = FakeBackend()
        app = ZmqtuiApp(backend)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = app.composer_pane
            pane.fill("first.txt", 5, 2)
            pane.action_send()
            pane.fill("second.txt")
            pane.action_send()
            history = app.query_one(HistoryList)
            await wait_for(lambda: history.option_count == 2)
            history.focus()
            await pilot.press("down", "enter")
            await pilot.pause()
            assert pane.current_request().frames == ('json:{"path": "first.txt"}',)
            assert app.query_one("#composer-count", Input).value == "5"
            assert app.query_one("#composer-concurrency", Input).value == "2"
            assert app.focused is pane.frame_list.fields[0]
            history.focus()
            await pilot.press("r")  # first.txt is still highlighted
            await wait_for(lambda: len(backend.calls) >= 3)
            call, (spec, count, concurrency) = backend.calls[-1]
            assert call == "send_message" and (spec.frames, count, concurrency) == (
                ('json:{"path": "first.txt"}',),
                5,
                2,
            )
            await wait_for(lambda: history.option_count == 3)
            assert history_lines(app) == ["… in flight"] * 3


class TestSendsInFlightTogether:
    @pytest.mark.parametrize("order", ["as sent", "reversed"])
    async def test_identical_sends_each_get_their_own_reply(self, order: str):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(ComposerPane)
            pane.fill("a.txt")
            pane.action_send()
            pane.action_send()
            first, second = in_flight(pane)
            answers = [(first, 4101), (second, 4102)]
            (send_id, pid), (other, _) = answers if order == "as sent" else answers[::-1]
            pane.show_result(result("a.txt", FileReply("x", 1, pid)), send_id=send_id)
            await pilot.pause()
            assert in_flight(pane) == [other], "only the send answered is settled"
            assert f"pid {pid} " in response_text(app)

    async def test_each_load_run_shows_its_own_progress(self):
        app = Host()
        async with app.run_test(size=(120, 30)) as pilot:
            pane = app.query_one(ComposerPane)
            pane.fill("README.md", 10, 2)
            pane.action_send()
            pane.action_send()
            older, newer = in_flight(pane)
            pane.show_progress(3, 10, send_id=older)
            pane.show_progress(7, 10, send_id=newer)
            pane.show_progress(5, 10, send_id=older)
            await pilot.pause()
            bar = app.query_one(ProgressBar)
            assert (bar.progress, bar.total) == (7, 10), "the bar follows the newest run"
            assert load_text(app) == "2 loads, the newest: 7 of 10 answered for README.md"

            # a single request in between leaves the runs alone
            pane.fill("a.txt")
            pane.action_send()
            single = in_flight(pane)[-1]
            pane.show_result(result("a.txt", FileReply("x", 1, 7)), send_id=single)
            await pilot.pause()
            assert load_text(app) == "2 loads, the newest: 7 of 10 answered for README.md"

            pane.show_summary(summary("README.md", 10, replies=9), send_id=newer)
            await pilot.pause()
            assert in_flight(pane) == [older]
            assert load_text(app) == "5 of 10 answered for README.md", "now the other run's"
            assert (bar.progress, bar.total) == (5, 10)
            pane.show_summary(summary("README.md", 10), send_id=older)
            await pilot.pause()
            assert in_flight(pane) == []
            assert load_text(app) is None

    async def test_progress_of_a_send_not_in_flight_is_ignored(self):
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(ComposerPane)
            pane.show_progress(1, 10, send_id=99)
            await pilot.pause()
            assert load_text(app) is None

    async def test_without_a_send_id_an_outcome_lands_on_the_oldest_send_for_its_path(self):
        """A backend that keeps no ids (a scripted one) still settles a send."""
        app = Host()
        async with app.run_test() as pilot:
            pane = app.query_one(ComposerPane)
            for path in ("a", "b", "a"):
                pane.fill(path)
                pane.action_send()
            _, b, second_a = in_flight(pane)
            pane.show_result(result("a", ErrorReply("NOT_FOUND", "gone", 1, 7)))
            await pilot.pause()
            assert in_flight(pane) == [b, second_a]

    async def test_a_load_that_breaks_is_settled_as_failed_and_its_bar_goes(self):
        app = ZmqtuiApp(FakeBackend())
        async with app.run_test(size=(160, 45)):
            pane = app.composer_pane
            pane.fill("a.txt", 10, 2)
            pane.action_send()
            (send_id,) = in_flight(pane)
            await wait_for(lambda: history_lines(app) == ["… in flight"])
            app.post_message(LoadProgressed(4, 10, send_id))
            await wait_for(lambda: history_lines(app) == ["… in flight 40%"])
            assert load_text(app) == "4 of 10 answered for a.txt"
            app.post_message(SendFailed("a.txt", 10, "ZMQError: gone", send_id))
            await wait_for(lambda: history_lines(app) == ["✗ ZMQError: gone"])
            assert load_text(app) is None and in_flight(pane) == []
            assert status_text(app) == "a.txt: ZMQError: gone"

    async def test_through_the_app_replies_in_reverse_order_reach_their_sends(self):
        backend = FakeBackend()
        app = ZmqtuiApp(backend)
        async with app.run_test(size=(160, 45)) as pilot:
            pane = app.composer_pane
            pane.fill("a.txt")
            pane.action_send()
            pane.action_send()
            await wait_for(lambda: len(backend.send_ids) == 2)
            for send, content in ((1, "second"), (0, "first")):
                raw = f'{{"content": "{content}"}}'.encode()
                reply = FileReply(content, 1, 4101 + send)
                backend.finish(send, RequestResult("a.txt", reply, 3.25, 1, raw=raw))
            await wait_for(lambda: not in_flight(pane))
            await pilot.pause()
            newer, older = app.query_one(HistoryList).records
            assert "first" in older.reply and "second" in newer.reply, "each in its own place"
