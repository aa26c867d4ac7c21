"""Counter lines that fit their width: parts give way whole, never wrapped into the next."""

from __future__ import annotations

from rich.text import Text

from zmqtui.tui.widgets.fitted_line import Part, fit_parts

PARTS = [
    Part(Text("received 235")),
    Part(Text("rate 12.0/s"), drop_order=2),
    Part(Text("shown 23")),
    Part(Text("5 other messages"), drop_order=1),
    Part(Text("feed tcp://127.0.0.1:5556"), short=Text("feed …:5556")),
]


def test_the_least_important_give_way_first_then_parts_shorten_then_the_line_is_cut() -> None:
    assert fit_parts(PARTS, 200).plain == (
        "received 235  rate 12.0/s  shown 23  5 other messages  feed tcp://127.0.0.1:5556"
    )
    assert fit_parts(PARTS, 64).plain == (
        "received 235  rate 12.0/s  shown 23  feed tcp://127.0.0.1:5556"
    )
    assert fit_parts(PARTS, 51).plain == "received 235  shown 23  feed tcp://127.0.0.1:5556"
    assert fit_parts(PARTS, 40).plain == "received 235  shown 23  feed …:5556"
    assert fit_parts(PARTS, 20).plain == "received 235  shown…"
