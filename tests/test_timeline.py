"""A recording's time position: shown on one line, and where `g` goes from what is typed."""

from __future__ import annotations

import pytest

from zmqtui.timeline import NS_PER_MS, NS_PER_S, Position, Target, describe, parse_target

START_NS = 1_767_225_600 * NS_PER_S + 250 * NS_PER_MS
"""2026-01-01 00:00:00.250 UTC."""


pytestmark = pytest.mark.usefixtures("utc")


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("+30s", Target("time", START_NS + 30 * NS_PER_S)),
        ("+1m30s", Target("time", START_NS + 90 * NS_PER_S)),
        ("+250ms", Target("time", START_NS + 250 * NS_PER_MS)),
        ("+1.5h", Target("time", START_NS + 5400 * NS_PER_S)),
        ("00:01:05", Target("time", START_NS - 250 * NS_PER_MS + 65 * NS_PER_S)),
        ("0:01:05.5", Target("time", START_NS - 250 * NS_PER_MS + 65_500 * NS_PER_MS)),
        ("00:00", Target("time", START_NS - 250 * NS_PER_MS)),  # within the start's second
        ("#42", Target("message", 42)),
    ],
)
def test_a_time_an_offset_or_a_message_number(text: str, target: Target) -> None:
    assert parse_target(text, START_NS) == target


def test_a_time_before_the_start_is_the_next_days() -> None:
    start = START_NS + 12 * 3600 * NS_PER_S  # 12:00:00.250
    assert parse_target("11:00", start) == Target(
        "time", start - 250 * NS_PER_MS + 23 * 3600 * NS_PER_S
    )


@pytest.mark.parametrize("text", ["", "soon", "+", "+30", "+30x", "25:00", "12:61", "#", "#a"])
def test_anything_else_is_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"not|number"):
        parse_target(text, START_NS)


def test_the_position_line() -> None:
    position = Position(12, 1000, START_NS + 12_100 * NS_PER_MS, START_NS, speed=0.5)
    assert describe(position) == "‖ paused 0.5x │ 00:00:12.350 +0:12.100 │ message 12 of 1,000"
    playing = Position(1000, 1000, START_NS + 3700 * NS_PER_S, START_NS, speed=4, playing=True)
    assert describe(playing).startswith("▶ playing 4x │ 01:01:40.250 +1:01:40.000")
    ended = Position(1000, 1000, START_NS, START_NS)
    assert "‖ end 1x" in describe(ended)
