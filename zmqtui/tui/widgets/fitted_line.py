"""Lines of counters that fit the width they are drawn at, never wrapping one into the next.

A pane's counter line soft-wrapped at 80 columns reads as one counter: "shown 23" at the end
of a line and "5 other messages" under it read "shown 235 other messages". Here each line is
made of parts; a part that does not fit gives way whole, the least important first (the way
`widgets.table.Column.drop_order` drops columns), then the parts that have a shorter form
take it (the last first), and a line still too wide is cut with `…`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions
from rich.text import Text

SEPARATOR = "  "
"""What stands between two parts of a line."""


@dataclass(frozen=True, slots=True)
class Part:
    """One counter or note of a line."""

    text: Text
    drop_order: int | None = None
    """When the line is too wide, parts with a `drop_order` are left out, the lowest first
    (the last of equals first), until the rest fit; None: always shown."""
    short: Text | None = None
    """A shorter form, taken when leaving parts out was not enough."""


def fit_parts(parts: Sequence[Part], width: int) -> Text:
    """`parts` joined by `SEPARATOR` on one line of at most `width` cells."""
    shown = list(parts)
    droppable = sorted(
        (part for part in reversed(shown) if part.drop_order is not None),
        key=lambda part: part.drop_order or 0,
    )
    for part in droppable:
        if _width(shown) <= width:
            break
        shown = [kept for kept in shown if kept is not part]
    for index in reversed(range(len(shown))):
        if _width(shown) <= width:
            break
        if (short := shown[index].short) is not None:
            shown[index] = Part(short)
    line = Text(no_wrap=True, overflow="ellipsis", end="")
    line.append_text(Text(SEPARATOR).join(part.text for part in shown))
    line.truncate(width, overflow="ellipsis")
    return line


def _width(parts: Sequence[Part]) -> int:
    return sum(part.text.cell_len for part in parts) + len(SEPARATOR) * max(0, len(parts) - 1)


class FittedLines:
    """A Rich renderable: each line's parts fitted (`fit_parts`) to the width it is drawn at,
    so a resize fits them anew."""

    def __init__(self, lines: Iterable[Sequence[Part]]) -> None:
        self.lines = [tuple(line) for line in lines]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        newline = Text("\n", no_wrap=True, overflow="ellipsis")
        yield newline.join(fit_parts(line, options.max_width) for line in self.lines)
