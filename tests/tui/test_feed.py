"""How rates are written: one helper for the feeds (`12.3/s`) and the workers pane (`12.3`)."""

from __future__ import annotations

import pytest

from zmqtui.tui.widgets.feed import format_rate


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
    assert format_rate(rate) == feed
    assert format_rate(rate, unit="") == column
    assert len(column) <= 5, "a workers column is 6 cells wide"
