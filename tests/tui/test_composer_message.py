"""The composer's message form on scripted results: frames checked as typed, keys that add,
drop, move and retype frames, REQ or DEALER, the request as a `RequestSpec`, replies decoded."""

from __future__ import annotations

from collections import Counter

import msgpack
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Button, Input, RichLog, Static

from zmqtui.request_spec import RequestSpec
from zmqtui.results import SendResult, SendSummary
from zmqtui.tui.panes.composer import ComposerPane
from zmqtui.tui.panes.composer.frame_list import check_frame, retype
from zmqtui.tui.panes.composer.render import (
    MAX_SHOWN_CHARS,
    MAX_SHOWN_LINES,
    Palette,
    render_send_result,
)

ENDPOINT = "tcp://127.0.0.1:60401"


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield ComposerPane(endpoint=ENDPOINT)

    @property
    def pane(self) -> ComposerPane:
        return self.query_one(ComposerPane)


def message_sends(messages: list[Message]) -> list[ComposerPane.MessageSendRequested]:
    unique = {id(m): m for m in messages if isinstance(m, ComposerPane.MessageSendRequested)}
    return list(unique.values())


def response_text(app: App) -> str:
    return "\n".join(strip.text.rstrip() for strip in app.query_one(RichLog).lines)


def frame_error(app: App) -> str | None:
    line = app.query_one("#composer-frame-error", Static)
    return str(line.render()) if line.display else None


def frames(app: Host) -> tuple[str, ...]:
    return app.pane.frame_list.frames


class TestFrames:
    async def test_json_is_checked_as_typed_and_the_place_is_marked(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            app.pane.action_edit()
            await pilot.press("backspace", *'"a": 1,}')
            field = app.pane.frame_list.fields[0]
            assert field.value == 'json:{"a": 1,}'
            assert field.has_class("-invalid")
            assert frame_error(app) == (
                "frame 1: not JSON: Expecting property name enclosed in double quotes"
                " (at character 14)"
            )
            marked = field.highlighter(field.value)
            assert [(span.start, span.end) for span in marked.spans] == [(13, 14)]
            await pilot.press("backspace", "backspace", "}")
            assert not field.has_class("-invalid") and frame_error(app) is None

    async def test_keys_add_drop_move_and_retype_frames(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            app.pane.action_edit()
            await pilot.press("ctrl+n", *"hi", "ctrl+n", *"there")
            assert frames(app) == ("json:{}", "text:hi", "text:there")
            await pilot.press("ctrl+up")
            assert frames(app) == ("json:{}", "text:there", "text:hi")
            assert app.focused is app.pane.frame_list.fields[1], "focus moves with the frame"
            await pilot.press("ctrl+t")
            assert frames(app)[1] == "hex:74 68 65 72 65", "the same bytes, written as hex"
            await pilot.press("ctrl+t")
            assert frames(app)[1] == "b64:dGhlcmU="
            await pilot.press("ctrl+y")
            assert frames(app) == ("json:{}", "text:hi")
            await pilot.press("ctrl+down")
            assert frames(app) == ("json:{}", "text:hi"), "the last frame stays last"
            await pilot.press("ctrl+y", "ctrl+y")
            assert frames(app) == ("json:{}",), "a message keeps one frame"
            labels = [str(label.render()) for label in app.query(".composer-frame-kind")]
            assert labels == ["1 json"]

    async def test_ctrl_s_sends_the_frames_over_the_socket_chosen(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
            await app.pane.load_request(
                RequestSpec("", ('json:{"a": 1}', "text:hello", "hex:00ff"), name="three")
            )
            assert app.query_one("#composer-endpoint", Input).value == ENDPOINT, "the default"
            app.pane.main_control.focus()
            await pilot.press("ctrl+o")
            assert str(app.query_one("#composer-socket", Button).label) == "DEALER"
            app.query_one("#composer-count", Input).value = "20"
            app.query_one("#composer-concurrency", Input).value = "4"
            await pilot.press("ctrl+s")
            await pilot.pause()
            [sent] = message_sends(messages)
            assert sent.spec == RequestSpec(
                ENDPOINT, ('json:{"a": 1}', "text:hello", "hex:00ff"), "DEALER", name="three"
            )
            assert (sent.count, sent.concurrency) == (20, 4)
            assert app.pane._in_flight[sent.send_id].label == "three"

    async def test_a_frame_that_does_not_parse_is_not_sent(self):
        messages: list[Message] = []
        app = Host()
        async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
            await app.pane.load_request(RequestSpec(ENDPOINT, ("text:ok", "hex:0g")))
            app.pane.action_send()
            await pilot.pause()
            assert message_sends(messages) == []
            status = str(app.query_one("#composer-status", Static).render())
            assert status == "frame 2: hex: 'g' is not a hex digit"
            assert app.focused is app.pane.frame_list.fields[1]

    async def test_the_file_request_is_one_key_away_and_is_a_request_too(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            app.pane.main_control.focus()
            await pilot.press("ctrl+f", *"docs/a.md")
            assert app.focused is app.query_one("#composer-path", Input)
            assert app.pane.current_request() == RequestSpec(
                ENDPOINT, ('json:{"path": "docs/a.md"}',), "REQ", name="docs/a.md"
            )
            await pilot.press("ctrl+f")
            assert app.focused is app.pane.frame_list.fields[0]
            assert app.pane.current_request().frames == ("json:{}",)

    async def test_load_request_then_current_request_give_back_the_same(self):
        spec = RequestSpec("ipc:///tmp/x", ("@data.bin", "b64:AP8="), "DEALER", "saved", 900)
        app = Host()
        async with app.run_test() as pilot:
            await app.pane.load_request(spec)
            await pilot.pause()
            assert app.pane.current_request() == spec

    async def test_a_side_widget_takes_its_place_beside_the_response(self):
        app = Host()
        async with app.run_test(size=(120, 30)) as pilot:
            app.pane.place_side(Static("saved requests", id="tree"))
            await pilot.pause()
            tree = app.query_one("#tree")
            assert tree.parent is app.query_one("#composer-side") and tree.region.width >= 20


async def test_a_loaded_frame_a_terminal_must_not_see_shows_as_its_bytes_in_hex():
    """A saved request's frame with an escape sequence or a bidi override reached the screen
    as it was."""
    app = Host()
    async with app.run_test() as pilot:
        hostile = RequestSpec("tcp://x\x1b[2J", ("text:a\x1b[31m\u202e", "@f\x1b", "json:{"))
        await app.pane.load_request(hostile)
        await pilot.pause()
        assert frames(app) == ("hex:61 1b 5b 33 31 6d e2 80 ae", "@f\\x1b", "json:{")
        assert app.query_one("#composer-endpoint", Input).value == "tcp://x\\x1b[2J"
        app.pane.frame_list.fields[0].focus()
        await pilot.press("ctrl+t", "ctrl+t", "ctrl+t")  # b64, file, json: never text again
        assert "\x1b" not in frames(app)[0]


def test_a_file_frame_is_looked_at_never_read(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(b"\x00\xff")
    assert check_frame(f"@{data}") is None
    assert "is not a regular file" in str(check_frame(f"@{tmp_path}"))
    assert "cannot read" in str(check_frame(f"@{tmp_path}/none"))
    assert retype("text:é", "hex") == "hex:c3 a9"
    assert retype("hex:c3 a9", "text") == "text:é"
    assert retype("hex:ff", "json") == "json:ff", "bytes that are no JSON: the prefix only"
    assert retype("text:name", "file") == "@name"


def test_a_frame_with_variables_is_checked_as_it_will_go_filled(tmp_path):
    number = 'json:{"id": ${n}}'
    assert check_frame(number) is not None, "unfilled, ${n} is no JSON"
    assert check_frame(number, {"n": "42"}) is None
    assert check_frame(number, {}) is None, "an unknown variable is named when it is sent"
    wrong = check_frame(number, {"n": "4 2"})
    assert wrong is not None and wrong.offset == number.index("${n}")
    assert "${n} is '4 2' here" in wrong.reason
    after = 'json:{"a": "$${x}", "n": ${n}, }'  # a `$${` before: the place still right
    error = check_frame(after, {"n": "1"})
    assert error is not None and error.offset == after.index(", }") + 2
    assert error.reason.endswith("(its variables filled)")
    (tmp_path / "x.bin").write_bytes(b"x")
    assert check_frame("@${d}/x.bin", {"d": str(tmp_path)}) is None


class TestReplies:
    async def test_each_frame_of_a_reply_is_shown_decoded_and_escaped(self):
        app = Host()
        async with app.run_test(size=(100, 40)) as pilot:
            app.pane.action_send()
            reply = [
                b'{"ok": true, "pid": 4101}',
                b"[bold]not markup[/bold] \x1b[31m",
                msgpack.packb({"n": 1}),
                b"\x00\x01\xfe",
            ]
            (send_id,) = app.pane._in_flight
            app.pane.show_send_result(SendResult(reply, 2.5, 1), send_id=send_id)
            await pilot.pause()
            text = response_text(app)
            assert "✔ 4 frames" in text
            assert "pid 4101  latency 2.5 ms  tries 1" in text
            assert "frame 1 json  25 bytes" in text and '"ok": true' in text
            assert "frame 2 text" in text and "[bold]not markup[/bold] \\x1b[31m" in text
            assert "frame 3 msgpack" in text and '"n": 1' in text
            assert "frame 4 hex" in text and "00 01 fe" in text
            assert "\x1b" not in text
            assert not app.pane._in_flight

    async def test_d_reads_the_reply_with_the_next_decoder(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            app.pane.action_send()
            reply = SendResult([b'{"a": 1}'], 1.0, 1)
            app.pane.show_send_result(reply, send_id=max(app.pane._in_flight))
            app.pane.main_control.focus()
            await pilot.pause()
            assert "frame 1 json" in response_text(app)
            await pilot.press("d", "d")  # auto, json, msgpack
            assert "read as msgpack" in response_text(app)
            assert "✗ msgpack:" in response_text(app) and "7b 22 61 22" in response_text(app)
            await pilot.press(*"ddd")  # protobuf, text, hex
            assert "frame 1 hex" in response_text(app)
            app.pane.action_send()
            app.pane.show_send_result(reply, send_id=max(app.pane._in_flight))
            await pilot.pause()
            assert app.pane.reply_decoder == "auto" and "read as" not in response_text(app)

    async def test_an_error_reply_and_silence_say_what_they_are(self):
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            app.pane.action_send()
            app.pane.action_send()
            silent, error = app.pane._in_flight
            reply = b'{"error": {"code": "BAD_REQUEST", "message": "extra frames"}, "pid": 7}'
            app.pane.show_send_result(SendResult([reply], 1.0, 1), send_id=error)
            await pilot.pause()
            assert "✖ BAD_REQUEST  extra frames" in response_text(app)
            app.pane.show_send_result(SendResult(None, 7500.0, 3), send_id=silent)
            await pilot.pause()
            assert "✖ no reply after 3 tries" in response_text(app)
            assert not app.pane._in_flight

    async def test_a_load_shows_the_summary(self):
        app = Host()
        async with app.run_test(size=(120, 30)) as pilot:
            await app.pane.load_request(RequestSpec(ENDPOINT, ("text:ping",), "DEALER"))
            app.query_one("#composer-count", Input).value = "10"
            app.pane.action_send()
            (send_id,) = app.pane._in_flight
            app.pane.show_progress(4, 10, send_id=send_id)
            summary = SendSummary(
                ENDPOINT,
                "DEALER",
                1,
                count=10,
                concurrency=1,
                sent=10,
                replies_by_pid=Counter({4101: 10}),
                elapsed_s=0.5,
                latencies_ms=[1.0] * 10,
            )
            app.pane.show_send_summary(summary, send_id=send_id)
            await pilot.pause()
            text = response_text(app)
            assert "✔ 10 × text:ping, 1 at a time" in text  # noqa: RUF001
            assert "over DEALER  frames 1" in text and "answered 10" in text
            assert not app.pane._in_flight


def test_a_large_binary_reply_is_dumped_only_as_far_as_shown():
    frame = bytes(range(256)) * 4096  # 1 MiB
    shown = render_send_result(SendResult([frame], 1.0, 1), Palette(*[Style()] * 4))
    lines = [item.plain for item in shown if isinstance(item, Text)]
    assert lines[-1] == f"showing {MAX_SHOWN_LINES} of 65,536 lines"
    assert len(lines) < MAX_SHOWN_LINES + 10


def test_a_large_text_reply_is_shown_from_its_start_without_decoding_it_whole():
    frame = b'{"a": "' + b"x" * (1 << 20) + b'"}'
    shown = render_send_result(SendResult([frame], 1.0, 1), Palette(*[Style()] * 4))
    lines = [item.plain for item in shown if isinstance(item, Text)]
    assert lines[-1] == "showing the start of 1,048,585 bytes, as text"
    assert lines[-2].startswith('{"a": "xxx') and len(lines[-2]) == MAX_SHOWN_CHARS


async def test_load_request_needs_no_await_from_a_message_handler():
    """A side widget's handler may be a plain function: the frames still arrive."""
    app = Host()
    async with app.run_test() as pilot:
        app.pane.load_request(RequestSpec(ENDPOINT, ("text:a", "text:b"), "DEALER"))
        await pilot.pause()
        assert frames(app) == ("text:a", "text:b") and app.pane.socket == "DEALER"
