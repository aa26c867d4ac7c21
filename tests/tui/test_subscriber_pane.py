"""The subscriber pane on scripted batches: safe payloads, filter, pause/follow, export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import msgpack
from fake_backend import T0, SubscriberHost, capture, detail_text, event, on_screen, raw_capture
from helpers import lines_on_screen, plain, wait_for
from textual.app import ComposeResult
from textual.widgets import Input

from zmqtui.captures import NS_PER_MS, Capture, FeedState, FeedView, searchable_text
from zmqtui.config import FeedConfig
from zmqtui.feedfilter import parse_filter
from zmqtui.recording import Recorded, read_recording
from zmqtui.tui.panes.subscriber import FEED_STATE_STYLES, SubscriberPane, parse_prefixes
from zmqtui.tui.widgets.detail_view import DetailView
from zmqtui.tui.widgets.feed import feed_label
from zmqtui.tui.widgets.live_text import LiveText


def stats_text(pane: SubscriberPane) -> str:
    return plain(pane.query_one("#subscriber-stats", LiveText).text)


async def test_markup_and_control_characters_are_shown_literally(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        app.feed.add(
            "sub",
            [
                raw_capture([b"[bold]loud[/bold] \x1b[31mred"], "not UTF-8 JSON"),
                raw_capture([b"topic", b"\xff\x00binary"], "expected one frame, got 2"),
                capture(event(1, file="[red]x[/red].txt")),
            ],
        )
        lines = await wait_for(lambda: [line for line in on_screen(pane.log_view) if line])
        await pilot.pause()
        lines = on_screen(pane.log_view)
        assert "[bold]loud[/bold] \\x1b[31mred" in lines[0]
        assert "topic ff 00 62 69 6e 61 72 79" in lines[1]
        assert "[red]x[/red].txt" in lines[2]
        assert "2 other messages" in stats_text(pane)
        assert not any("✗" in line for line in lines)


async def test_selected_message_is_shown_whole_as_json(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        app.feed.add("sub", [capture(event(7, file="[bold]b.txt"), lag_ms=12)])
        await wait_for(lambda: '"seq": 7' in detail_text(app, pane))
        text = detail_text(app, pane)
        assert '"file": "[bold]b.txt"' in text
        assert "lag 12 ms" in text
        await pilot.pause()


UNDECODABLE = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
"""A file name that is not valid UTF-8, as `os.fsdecode` gives it and the watcher sends it."""


async def test_undecodable_file_name_is_shown_escaped_and_exported(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.pane
        change = capture(event(3, file=UNDECODABLE))
        app.feed.add("sub", [change])
        await wait_for(lambda: '"seq": 3' in detail_text(app, pane))
        await pilot.pause()
        assert any("caf\\udce9.txt" in line for line in on_screen(pane.log_view))
        assert '"file": "caf\\udce9.txt"' in detail_text(app, pane)
        await pilot.press("e")
        files = await wait_for(lambda: list(tmp_path.glob("zmqtui-capture-*.jsonl")))
        assert read_recording(files[0])[1][0].frames == change.frames, "byte for byte"


async def test_gaps_and_lag_are_visible(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)):
        pane = app.pane
        note = "gap: missed 2 event(s)"
        app.feed.add("sub", [capture(event(1)), capture(event(4), lag_ms=1500, notes=[note])])
        lines = await wait_for(lambda: [line for line in on_screen(pane.log_view) if line])
        assert len(lines) == 2
        assert "1500ms" in lines[1] and f"⚠ {note}" in lines[1]
        assert "⚠ 1 alert" in stats_text(pane)
        assert "lag 1500 ms (max 1500 ms)" in stats_text(pane)


async def test_filter_by_text_and_regex(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        app.feed.add(
            "sub",
            [capture(event(n, file=f"{'src' if n % 2 else 'docs'}/f{n}.txt")) for n in range(1, 7)],
        )
        await pilot.press("slash")
        assert app.focused is pane.query_one("#subscriber-filter", Input)
        await pilot.press(*"DOCS")
        await wait_for(lambda: len([line for line in on_screen(pane.log_view) if line]) == 3)
        assert all("docs/" in line for line in on_screen(pane.log_view) if line)
        pane.query_one("#subscriber-filter", Input).value = "/^src/f[15]/"
        await wait_for(lambda: len([line for line in on_screen(pane.log_view) if line]) == 2)
        # arrivals are filtered too, and the count of shown ones stays exact
        app.feed.add("sub", [capture(event(9, file="src/f5.txt")), capture(event(10, "x.txt"))])
        await wait_for(lambda: len([line for line in on_screen(pane.log_view) if line]) == 3)
        pane.query_one("#subscriber-filter", Input).value = "/([/"
        await pilot.pause()
        assert pane.query_one("#subscriber-filter", Input).has_class("-invalid")
        assert len([line for line in on_screen(pane.log_view) if line]) == 3


def test_text_and_regex_filters_match_an_events_path_kind_and_notes() -> None:
    change = searchable_text(
        capture(event(1, file="a/b.txt", kind="deleted"), notes=["gap: missed 1"])
    )
    assert parse_filter("DELETED").matches_text(change)
    assert parse_filter("/^a/b").matches_text(change)
    assert parse_filter("gap").matches_text(change)
    assert not parse_filter("/^b").matches_text(change)
    assert parse_filter("").matches_text(change)
    assert not parse_filter("kind=deleted").matches_text(change), "a query is no text search"


async def test_a_field_query_filters_payloads_feeds_and_topics(tmp_path: Path) -> None:
    """`level=warn bid>100 user.id=42`, `@feed=`, `@topic~`: JSON and msgpack payloads, the
    book's events as the JSON they are; a query that cannot be read is red, says why and
    changes nothing."""
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        app.feed.add(
            "sub",
            [
                message([b"md.AAPL", msgpack.packb({"bid": 189.5, "user": {"id": 42}})], "mkt"),
                message([b"md.MSFT", msgpack.packb({"bid": 99.5})], "mkt"),
                message([b'log.warn {"level": "warn", "msg": "[bold]disk"}'], "logs"),
                message([b'log.info {"level": "info"}'], "logs"),
                capture(event(5, file="src/a.txt", kind="deleted")),
            ],
        )
        field = pane.query_one("#subscriber-filter", Input)

        async def listed(query: str) -> list[str]:
            field.value = query
            await pilot.pause()
            await wait_for(lambda: pane.view.shown == len(visible()))
            return visible()

        def visible() -> list[str]:
            return [line for line in on_screen(pane.log_view) if line]

        assert [line.split()[2] for line in await listed("bid>100")] == ["md.AAPL"]
        assert [line.split()[2] for line in await listed("user.id=42")] == ["md.AAPL"]
        assert "[bold]disk" in " ".join(await listed("level=warn"))
        assert len(await listed("@feed=logs")) == 2
        assert [line.split()[2] for line in await listed(r"@topic~^md\. bid<100")] == ["md.MSFT"]
        assert "src/a.txt" in " ".join(await listed("event=deleted"))
        before = visible()
        field.value = "bid>"
        await wait_for(lambda: "nothing to compare with after >" in stats_text(pane))
        assert field.has_class("-invalid") and visible() == before
        field.value = "@host=a"
        await wait_for(
            lambda: "the message fields are @feed, @topic and @notopic" in stats_text(pane)
        )
        field.value = ""
        await wait_for(lambda: len(visible()) == 5)
        assert "✗" not in stats_text(pane) and not field.has_class("-invalid")


async def test_p_pauses_from_the_list_and_is_typed_in_the_text_fields(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        log = pane.log_view
        app.feed.add("sub", [capture(event(n)) for n in range(1, 4)])
        await pilot.press("p")
        assert not log.following
        await pilot.press("p")
        assert log.following
        for field in ("#subscriber-filter", "#subscriber-prefixes"):
            text_field = pane.query_one(field, Input)
            text_field.focus()
            await pilot.press("p")
            assert text_field.value == "p" and log.following


async def test_the_detail_takes_the_new_colours_of_a_theme(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)):
        pane = app.pane
        app.feed.add("sub", [capture(event(1))])
        await wait_for(lambda: '"seq": 1' in detail_text(app, pane))
        detail = pane.query_one("#subscriber-detail", DetailView)

        def background() -> object:
            return next(iter(detail.render_line(0))).style.bgcolor

        dark = background()
        app.theme = "textual-light"
        await wait_for(lambda: background() != dark)


async def test_pause_counts_arrivals_and_follow_catches_up(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        log = pane.log_view
        app.feed.add("sub", [capture(event(n)) for n in range(1, 51)])
        await wait_for(lambda: "#50" in " ".join(on_screen(log)))
        await pilot.press("p")
        assert not log.following
        before = on_screen(log)
        app.feed.add("sub", [capture(event(n)) for n in range(51, 71)])
        await wait_for(lambda: "paused, 20 new" in stats_text(pane))
        await pilot.pause(0.1)
        assert on_screen(log) == before  # the view stayed put
        assert "received 70" in stats_text(pane)
        await pilot.press("end")
        await wait_for(lambda: "#70" in " ".join(on_screen(log)))
        assert log.following and "following" in stats_text(pane)


async def test_moving_up_stops_following(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        log = pane.log_view
        app.feed.add("sub", [capture(event(n)) for n in range(1, 41)])
        await wait_for(lambda: "#40" in " ".join(on_screen(log)))
        await pilot.press("up", "up")
        assert not log.following
        assert log.selected is not None and log.selected.event.seq == 38
        rows = range(log.scrollable_content_region.height)
        backgrounds = [next(iter(log.render_line(y))).style.bgcolor for y in rows]
        highlighted = [y for y, bg in enumerate(backgrounds) if bg != backgrounds[0]]
        cursor_row = log.cursor - log.ring.first - int(log.scroll_offset.y)
        assert highlighted == [cursor_row] and "#38" in on_screen(log)[cursor_row]
        await wait_for(lambda: '"seq": 38' in detail_text(app, pane))
        app.feed.add("sub", [capture(event(41))])
        await wait_for(lambda: "paused, 1 new" in stats_text(pane))
        assert "#41" not in " ".join(on_screen(log))


async def test_counts_stay_exact_when_old_lines_fall_out(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path, capacity=100)
    async with app.run_test(size=(120, 30)):
        pane = app.pane
        for start in range(0, 1000, 250):
            app.feed.add("sub", [capture(event(n)) for n in range(start + 1, start + 251)])
        await wait_for(lambda: "#1000" in " ".join(on_screen(pane.log_view)))
        assert len(pane.log_view.ring) == 100
        assert pane.log_view.ring.first == 900
        assert "received 1,000" in stats_text(pane) and "shown 1,000" in stats_text(pane)


async def test_shown_after_a_filter_change_says_when_it_is_a_lower_bound(
    tmp_path: Path,
) -> None:
    app = SubscriberHost(tmp_path, capacity=100)
    async with app.run_test(size=(120, 30)):
        pane = app.pane
        app.feed.add("sub", [capture(event(n)) for n in range(1, 251)])
        await wait_for(lambda: "#250" in " ".join(on_screen(pane.log_view)))
        filter_input = pane.query_one("#subscriber-filter", Input)
        filter_input.value = "todo"  # every message passes, but only 100 are still held
        await wait_for(lambda: "shown ≥100" in stats_text(pane))
        app.feed.add("sub", [capture(event(251))])
        await wait_for(lambda: "shown ≥101" in stats_text(pane))
        filter_input.value = ""  # no filter: every message received passes, exactly
        await wait_for(lambda: "shown 251" in stats_text(pane))


async def test_export_writes_a_recording(tmp_path: Path) -> None:
    """What the pane holds, frames exactly, in the format `zmqtui replay` and `diff` read."""
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        held = [capture(event(1), lag_ms=5), raw_capture([b"[bold]", b"\xff"], "not JSON")]
        app.feed.add("sub", held)
        await pilot.press("e")
        files = await wait_for(lambda: list(tmp_path.glob("zmqtui-capture-*.jsonl")))
        header, messages = read_recording(files[0])
        assert [feed.name for feed in header.feeds] == ["sub"]
        assert messages == [Recorded(c.received_ns, "sub", c.frames) for c in held]
        assert json.loads(files[0].read_text().splitlines()[2])["frames"] == [
            "[bold]",
            {"b64": "/w=="},
        ]
        await pilot.press("e")  # a second export in the same second gets its own file
        await wait_for(lambda: len(list(tmp_path.glob("zmqtui-capture-*.jsonl"))) == 2)


async def test_export_lands_outside_the_watched_directory_and_says_where(
    tmp_path: Path, monkeypatch
) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    monkeypatch.chdir(watched)  # bare `zmqtui` watches and serves the current directory
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    told: list[str] = []

    class DefaultHost(SubscriberHost):
        def compose(self) -> ComposeResult:
            yield SubscriberPane(clock=lambda: T0 / 1000)

        def notify(self, message: str, **kwargs) -> None:
            told.append(message)
            super().notify(message, **kwargs)

    app = DefaultHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        app.feed.add("sub", [capture(event(1))])
        await pilot.press("e")
        files = await wait_for(lambda: list((tmp_path / "data/zmqtui/captures").glob("*.jsonl")))
        assert not list(watched.iterdir())
        assert told == [f"exported 1 message to {files[0]}"]


async def test_clear_empties_the_list_and_what_it_says_it_shows(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        app.feed.add("sub", [capture(event(seq)) for seq in range(1, 27)])
        await wait_for(lambda: "shown 26" in stats_text(pane))
        await pilot.press("c")
        await wait_for(lambda: "shown 0" in stats_text(pane))
        assert "received 26" in stats_text(pane), "a total since start"
        app.feed.add("sub", [capture(event(27))])
        await wait_for(lambda: "shown 1" in stats_text(pane))


async def test_subscriptions_are_edited_live(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("s")
        assert app.focused is app.pane.query_one("#subscriber-prefixes", Input)
        await pilot.press(*"src/, docs/", "enter")
        await wait_for(lambda: app.posted)
        assert app.posted[-1].prefixes == ("src/", "docs/")
        assert app.focused is app.pane.log_view
        assert 'subscribed "src/", "docs/"' in stats_text(app.pane)


def test_parse_prefixes() -> None:
    assert parse_prefixes("") == ("",)
    assert parse_prefixes(" a , b,a ,, ") == ("a", "b")


async def test_a_monitor_that_cannot_keep_up_says_so(tmp_path: Path) -> None:
    """Events that never arrived (seq gaps) and a backlog the ingest side reports are shown."""
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)):
        pane = app.pane
        pane.show_view(FeedView("sub", received=10, shown=10, dropped=1234, behind_s=3.2))
        await wait_for(lambda: "⚠ 1,234 never arrived" in stats_text(pane))
        assert "⚠ behind for 3 s" in stats_text(pane)


ANY_FEED = [
    [b"md.AAPL", msgpack.packb({"sym": "AAPL", "bid": 189.01})],
    [b'log.warn {"level": "warn", "msg": "[b]disk[/b] 81% full"}'],
    [b"10001 23 45"],
    [b"bin.blob", bytes([0x00, 0xFF, 0x1B, 0x10])],
]
"""Messages of an ordinary feed: multipart msgpack, a JSON log line with a leading topic,
the guide's weather text, a binary frame."""


async def test_any_feed_shows_topics_and_decoded_payloads_never_errors(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        app.feed.add("sub", [raw_capture(frames, "", at=n) for n, frames in enumerate(ANY_FEED)])
        app.feed.add("sub", [capture(event(7, file="src/a.txt"))])
        await wait_for(lambda: len([line for line in on_screen(pane.log_view) if line]) == 5)
        lines = on_screen(pane.log_view)
        assert lines[0].endswith('  md.AAPL {"sym":"AAPL","bid":189.01}')
        assert lines[1].endswith('  log.warn {"level":"warn","msg":"[b]disk[/b] 81% full"}')
        assert lines[2].endswith("  10001 23 45")
        assert lines[3].endswith("  bin.blob 00 ff 1b 10")
        assert "#7      modified src/a.txt" in lines[4], "the book's events keep their columns"
        assert not any("✗" in line for line in [*lines, stats_text(pane)])
        assert "4 other messages" in stats_text(pane)

        await pilot.press("up", "up", "up", "up")  # the msgpack message
        await wait_for(lambda: "frame 0 · msgpack" in detail_text(app, pane))
        detail = detail_text(app, pane)
        assert "topic md.AAPL" in detail and "decoder auto" in detail
        assert '"bid": 189.01' in detail
        await pilot.press("down", "down", "down")  # the binary frame, as a hex dump
        await wait_for(lambda: "frame 0 · hex (4 bytes)" in detail_text(app, pane))
        assert "00000000  00 ff 1b 10" in detail_text(app, pane)

        pane.query_one("#subscriber-filter", Input).value = "DISK"
        await wait_for(lambda: len([line for line in on_screen(pane.log_view) if line]) == 1)
        assert "log.warn" in on_screen(pane.log_view)[0]


async def test_d_cycles_the_selected_messages_decoder(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        app.feed.add("sub", [raw_capture(ANY_FEED[0], ""), raw_capture(ANY_FEED[2], "")])
        await wait_for(lambda: "10001 23 45" in " ".join(on_screen(pane.log_view)))
        await pilot.press("up")  # the msgpack message
        await wait_for(lambda: "frame 0 · msgpack" in detail_text(app, pane))
        seen = []
        for name in ("json", "msgpack", "protobuf", "text", "hex", "raw", "auto"):
            await pilot.press("d")
            await wait_for(
                lambda name=name: (
                    f"decoder {name} (d: next)" in detail_text(app, pane)
                    and "frame 0 ·" in detail_text(app, pane)
                )
            )
            seen.append(detail_text(app, pane))
        # json cannot read msgpack: the one case a message is shown as malformed
        assert "✗ json: not JSON" in seen[0]
        assert "frame 0 · hex (23 bytes)" in seen[4]
        assert not pane.log_view.following, "d stays on the message it reads"
        first = on_screen(pane.log_view)[0]
        assert first.endswith('md.AAPL {"sym":"AAPL","bid":189.01}'), "auto again"
        assert "10001 23 45" in on_screen(pane.log_view)[1], "the other rows stay as they were"


def message(frames: list[bytes], feed: str, at: int = 0) -> Capture:
    """Another message (not a change event) of `feed`, as the ingest side keeps one."""
    return Capture(tuple(frames), (T0 + at) * NS_PER_MS, feed=feed)


class TestSeveralFeeds:
    async def test_each_row_and_the_detail_name_their_feed(self, tmp_path: Path) -> None:
        app = SubscriberHost(tmp_path)
        async with app.run_test(size=(120, 30)) as pilot:
            pane = app.pane
            app.feed.add("sub", [message([b"md.A", b'{"bid": 1}'], "market")])
            await wait_for(lambda: any("md.A" in line for line in on_screen(pane.log_view)))
            assert not any("market" in line for line in on_screen(pane.log_view))
            assert "feeds" not in stats_text(pane), "one feed: no feed column, no feeds line"
            app.feed.add("sub", [message([b"10001 23 45"], "weather-station-of-the-north")])
            await wait_for(lambda: "weather" in "".join(on_screen(pane.log_view)))
            await pilot.pause()
            first, second = [line for line in on_screen(pane.log_view) if line][:2]
            assert "market       md.A" in first  # padded to the widest name, cut at 12
            assert "weather-sta… 10001" in second
            assert "● market connected 1" in stats_text(pane)
            app.feed.streams["sub"].sources["market"].given_up = 2
            app.feed.streams["sub"].sources["market"].config = FeedConfig(
                "market", "inproc://m", max_message_bytes=4 * 1024 * 1024
            )
            app.feed.add("sub", [message([b"md.B", b"{}"], "market")])
            await wait_for(lambda: "⚠ 2 over 4.0M" in stats_text(pane))
            await pilot.press("up")

            def detail_names_the_selected_feed() -> bool:
                selected = pane.log_view.selected
                return selected is not None and f"  feed {selected.feed}  " in detail_text(
                    app, pane
                )

            await wait_for(detail_names_the_selected_feed)


async def test_other_messages_show_their_lag_seq_and_gaps(tmp_path: Path) -> None:
    app = SubscriberHost(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.pane
        sent = (T0 - 1500) * NS_PER_MS
        quote = msgpack.packb({"bid": 1.5, "seq": 7, "ts": sent})
        gap = ("gap: missed 2 message(s) on md.A (seq 5..6)",)
        app.feed.add(
            "sub",
            [
                Capture((b"md.A", quote), T0 * NS_PER_MS, notes=gap),
                message([b"log.info", b'{"msg": "no send time"}'], ""),
            ],
        )
        await wait_for(lambda: len([line for line in on_screen(pane.log_view) if line]) == 2)
        first, second = on_screen(pane.log_view)[:2]
        assert " 1500ms md.A " in first and "⚠ gap: missed 2 message(s) on md.A" in first
        assert "ms" not in second.split("log.info")[0], "no send time: no lag column"
        await pilot.press("up")
        await wait_for(lambda: "lag 1500 ms  seq 7" in detail_text(app, pane))
        assert gap[0] in detail_text(app, pane)


def test_a_long_feed_name_keeps_its_start_and_an_endpoint_its_end() -> None:
    assert feed_label("weather-station-of-the-north", 12) == "weather-sta…"
    assert feed_label("tcp://127.0.0.1:5556", 12) == "….0.0.1:5556"
    assert feed_label("ipc:///tmp/a", 12) == "ipc:///tmp/a"
    assert feed_label("a\x1b[31m", 12) == "a\\x1b[31m"


def stats_on_screen(pane: SubscriberPane) -> list[str]:
    """The counter lines as the terminal shows them, at the pane's width."""
    return lines_on_screen(pane.query_one("#subscriber-stats", LiveText))


class TestCountersAt80Columns:
    """At 80x24 the pane is half the screen wide: counters that do not fit give way whole,
    the least important first, never wrapping into the next one."""

    async def test_counters_that_do_not_fit_give_way_whole(self, tmp_path: Path) -> None:
        app = SubscriberHost(tmp_path)
        async with app.run_test(size=(44, 24)) as pilot:
            pane = app.pane
            app.feed.add(
                "sub",
                [message([b"md.A", b'{"bid": 1}'], "market", at=i) for i in range(235)],
            )
            await wait_for(lambda: "received 235" in stats_text(pane))
            await pilot.pause()
            lines = await wait_for(
                lambda: (found := stats_on_screen(pane)) and "235" in found[0] and found
            )
            assert lines[0].startswith("received 235"), lines
            assert "shown 235" in lines[0], lines
            assert "other messages" not in lines[0], "the least important counter gives way"
            assert lines[1].startswith("subscribed everything"), "not a counter's tail"
            assert "following" in lines[1], lines

            app.feed.add("sub", [message([b"10001 23 45"], "weather-station")])
            lines = await wait_for(
                lambda: (found := stats_on_screen(pane)) and "weather" in found[-1] and found
            )
            assert lines[2] == "● market connected 235  ● weather-sta… 1", "shorter, none cut"

    async def test_a_row_keeps_its_path_and_leaves_lag_and_seq_to_the_detail(
        self, tmp_path: Path
    ) -> None:
        app = SubscriberHost(tmp_path)
        async with app.run_test(size=(44, 24)):
            pane = app.pane
            app.feed.add("sub", [capture(event(7, file="src/a.txt"), lag_ms=12)])
            lines = await wait_for(lambda: [line for line in on_screen(pane.log_view) if line])
            assert lines[0] == "00:00:00.012  modified src/a.txt"
            await wait_for(lambda: "lag 12 ms" in detail_text(app, pane))
            assert '"seq": 7' in detail_text(app, pane)


def test_only_a_broken_feed_is_coloured_as_an_error() -> None:
    """A feed played from a recording (`--open`) is not a failure."""
    fine = set(get_args(FeedState)) - {"disconnected", "failed"}
    assert fine <= FEED_STATE_STYLES.keys()
    assert "error" not in FEED_STATE_STYLES.values()
