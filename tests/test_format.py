"""How numbers, sizes, durations, times and frames are written: one helper per kind, shared by
the commands and the panes (`zmqtui.format`)."""

from __future__ import annotations

import time

import pytest

from zmqtui.format import (
    clock_time,
    date_time,
    format_bytes,
    format_duration,
    format_rate,
    js_date,
    plural,
    printable_frame,
    printable_frames,
)


class TestPlural:
    @pytest.mark.parametrize(
        ("count", "expected"), [(0, "0 alerts"), (1, "1 alert"), (2, "2 alerts")]
    )
    def test_regular_words_take_an_s(self, count: int, expected: str):
        assert plural(count, "alert") == expected

    def test_irregular_words_are_given(self):
        assert [plural(n, "try", "tries") for n in (1, 3)] == ["1 try", "3 tries"]

    def test_thousands_are_grouped(self):
        assert plural(12_345, "char") == "12,345 chars"


class TestDuration:
    def test_like_htop(self):
        assert [format_duration(s) for s in (0, 42, 185, 7_620, 356_400)] == [
            "0s",
            "42s",
            "3m05s",
            "2h07m",
            "4d03h",
        ]

    def test_fractions_are_cut_not_rounded(self):
        assert format_duration(59.99) == "59s"

    def test_unknown_or_negative_is_a_dash(self):
        """A worker's start time from a clock ahead of ours gives no uptime, not `-5s`."""
        assert format_duration(None) == "—"
        assert format_duration(-0.5) == "—"


class TestBytes:
    def test_binary_units_fit_six_cells(self):
        sizes = (0, 512, 12_595, 123 * 1024**2, 3 * 1024**3, 5 * 1024**4, 900 * 1024**4)
        shown = [format_bytes(n) for n in sizes]
        assert shown == ["0B", "512B", "12.3K", "123M", "3.0G", "5.0T", "900T"]
        assert all(len(s) <= 6 for s in shown)

    def test_unknown_is_a_dash(self):
        assert format_bytes(None) == "—"


@pytest.mark.parametrize(
    ("rate", "feed", "column"),
    [
        (None, "—/s", "—"),
        (0.0, "0.0/s", "0.0"),
        (12.34, "12.3/s", "12.3"),
        (999.94, "999.9/s", "999.9"),
        (999.96, "1.0k/s", "1.0k"),
        (2_540.0, "2.5k/s", "2.5k"),
        (9_949.0, "9.9k/s", "9.9k"),
        (9_999.96, "10k/s", "10k"),
        (123_456.0, "123k/s", "123k"),
    ],
)
def test_rates_step_up_to_thousands_and_fit_six_cells(rate, feed, column):
    """The feeds say `12.3/s`; the workers pane's req/s column passes `unit=""`."""
    assert format_rate(rate) == feed
    assert format_rate(rate, unit="") == column
    assert len(column) <= 5, "a workers column is 6 cells wide"


class TestTimes:
    MS = 1_700_000_000_123

    def test_clock_time_to_the_millisecond(self):
        expected = time.strftime("%H:%M:%S", time.localtime(self.MS // 1000)) + ".123"
        assert clock_time(self.MS) == expected

    def test_date_time_to_the_millisecond(self):
        day = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.MS // 1000))
        assert date_time(self.MS) == f"{day}.123"

    def test_js_date_like_javascripts_to_string(self):
        """`zmqtui subscribe` prints the lines the book's zmq-watcher-sub.js prints."""
        local = time.localtime(self.MS // 1000)
        assert js_date(self.MS).startswith(time.strftime("%a %b %d %Y %H:%M:%S GMT", local))

    @pytest.mark.parametrize("ms", [10**20, -(10**20)])
    def test_timestamps_no_clock_can_show_never_raise(self, ms: int):
        """Timestamps come from peers: a hostile one is shown, never a crash."""
        assert clock_time(ms) == "??:??:??.???"
        assert date_time(ms) == str(ms)
        assert js_date(ms) == f"{ms} ms after the epoch"


class TestFrames:
    def test_utf8_as_is_and_markup_left_alone(self):
        """Shown through `rich.text.Text`, so `[bold]` stays text (escaping is not its job)."""
        assert printable_frame("[bold]é ✓".encode()) == "[bold]é ✓"

    def test_controls_and_other_bytes_escaped_on_one_line(self):
        assert printable_frame(b"a\x1b[31m\nb\xff") == "a\\x1b[31m\\nb\\xff"

    def test_a_long_frame_is_cut_and_says_so(self):
        assert printable_frame(b"x" * 300, limit=10) == "x" * 10 + "…"
        assert printable_frame(b"x" * 300, limit=None) == "x" * 300

    def test_a_frame_cut_in_a_multibyte_character_shows_no_half_of_it(self):
        """Only `limit * 4` bytes are decoded: here the cut falls inside the fourth €."""
        assert printable_frame("a€€€€€".encode(), limit=3) == "a€€…"

    def test_frames_on_one_line(self):
        assert printable_frames([b"topic", b"\x00\x01"]) == "topic │ \\x00\\x01"
