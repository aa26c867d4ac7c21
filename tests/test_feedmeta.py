"""Lag and loss for any feed: send times told apart by magnitude, gaps per stream."""

from __future__ import annotations

import pytest

from zmqtui.decoders import decode_message
from zmqtui.feedmeta import (
    NO_META,
    FieldNames,
    GapTracker,
    Meta,
    epoch_ns,
    meta_of,
    meta_of_parts,
)

MOMENT_S = 1_764_000_000  # 2025-11-24
MOMENT_NS = MOMENT_S * 1_000_000_000


class TestTimestamps:
    @pytest.mark.parametrize(
        "value",
        [MOMENT_S, MOMENT_S * 1_000, MOMENT_S * 1_000_000, MOMENT_NS, float(MOMENT_S)],
    )
    def test_units_told_apart_by_magnitude(self, value):
        assert epoch_ns(value) == MOMENT_NS

    def test_fractions_are_kept(self):
        assert epoch_ns(MOMENT_S + 0.25) == MOMENT_NS + 250_000_000

    @pytest.mark.parametrize(
        "value",
        [5, 0, -MOMENT_S, True, None, "soon", float("nan"), float("inf"), 10**30, [MOMENT_S]],
    )
    def test_what_is_not_a_send_time(self, value):
        assert epoch_ns(value) is None

    def test_iso_8601_strings(self):
        assert epoch_ns("2025-11-24T16:00:00Z") == 1_764_000_000 * 10**9
        assert epoch_ns("2025-11-24T16:00:00.5+00:00") == 1_764_000_000 * 10**9 + 5 * 10**8


class TestMeta:
    def test_default_fields_first_found_wins(self):
        assert meta_of({"ts": MOMENT_S, "seq": 7}) == Meta(MOMENT_NS, 7)
        assert meta_of({"timestamp": MOMENT_S * 1000, "time": "x"}).sent_ns == MOMENT_NS
        assert meta_of({"seq": 3.0}).seq == 3

    def test_configured_fields(self):
        names = FieldNames(timestamp=("sent",), sequence=("n", "counter"))
        assert meta_of({"sent": MOMENT_S, "counter": 2, "seq": 9}, names) == Meta(MOMENT_NS, 2)

    def test_nothing_to_say(self):
        for value in ({"a": 1}, [1, 2], "text", {"seq": "one", "ts": 3}, {"seq": True}):
            assert meta_of(value) is NO_META

    def test_lag(self):
        assert Meta(MOMENT_NS).lag_ms(MOMENT_NS + 1_500_000) == 1.5
        assert NO_META.lag_ms(MOMENT_NS) is None

    def test_from_a_decoded_message(self):
        message = decode_message([b"md.X", b"plain", f'{{"ts": {MOMENT_S}, "seq": 4}}'.encode()])
        assert meta_of_parts(message.parts) == Meta(MOMENT_NS, 4)
        assert meta_of_parts(decode_message([b"10001 23 45"]).parts) is NO_META


class TestGaps:
    def test_per_stream(self):
        tracker = GapTracker()
        assert tracker.observe(("feed", b"a"), 1) is None
        assert tracker.observe(("feed", b"b"), 10) is None
        assert tracker.observe(("feed", b"a"), 2) is None
        gap = tracker.observe(("feed", b"a"), 5)
        assert gap is not None and gap.missed == 2 and not gap.restarted
        assert gap.note("a") == "gap: missed 2 message(s) on a (seq 3..4)"
        assert tracker.observe(("feed", b"b"), 12).note() == "gap: missed 1 message(s) (seq 11)"
        assert tracker.total_missed() == 3
        assert tracker.missed == {("feed", b"a"): 2, ("feed", b"b"): 1}

    def test_a_sequence_that_goes_back_is_a_restart(self):
        tracker = GapTracker()
        tracker.observe("s", 50)
        gap = tracker.observe("s", 1)
        assert gap.restarted and gap.missed == 0
        assert gap.note("s") == "sequence restarted on s: seq went back from 50 to 1"
        assert tracker.observe("s", 2) is None and tracker.total_missed() == 0

    def test_bounded(self):
        tracker = GapTracker(max_streams=2)
        for stream in "abc":
            tracker.observe(stream, 1)
        assert tracker.observe("a", 5) is None  # forgotten: heard as new
        assert tracker.observe("c", 3).missed == 1
