"""Two messages compared, as a pane's detail shows them: which two, then what differs.

The comparison is `zmqtui.message_diff`'s (fields for JSON and msgpack, lines for text, bytes
otherwise); this module only gives its lines their colours. Everything in it is escaped text
from the wire, never markup.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text

from zmqtui.captures import Capture
from zmqtui.format import MAX_SHOWN_CHARS, clock_time
from zmqtui.message_diff import DiffKind, compare_messages
from zmqtui.text import printable

MARK = "◆"
"""What a marked message's row and the comparison show beside it."""

KIND_STYLES: dict[DiffKind, str] = {
    "changed": "warning",
    "added": "ok",
    "removed": "error",
    "same": "label",
    "note": "accent",
}
"""The pane style (`pane--NAME`) each kind of line is shown in."""


def same_message(a: Capture, b: Capture) -> bool:
    """Whether two rows are one message (rows are fetched anew, so never the same object)."""
    return a.received_ns == b.received_ns and a.feed == b.feed and a.frames == b.frames


def describe_message(capture: Capture) -> str:
    """A message in a few words: when it was received, and its topic or a change event's path
    (escaped)."""
    when = clock_time(capture.received_ms)
    if capture.event is not None:
        return f"{when} {printable(capture.event.file, limit=MAX_SHOWN_CHARS)}"
    return when if capture.topic is None else f"{when} {capture.topic}"


def comparison_text(marked: Capture, selected: Capture, style: Callable[[str], Style]) -> Text:
    """Which two messages are compared (A the marked one, B the selected one) and how B differs
    from A, each line coloured by its kind: changed, added, removed."""
    diff = compare_messages(marked.frames, selected.frames)
    label = style("label")
    text = Text.assemble(
        ("A ", label),
        (f"{MARK} marked ", style("accent")),
        describe_message(marked),
        ("  B ", label),
        ("selected ", label),
        describe_message(selected),
        "\n",
        (diff.summary(), label if diff.equal else ""),
        (" (x on A unmarks it)", label),
    )
    for line in diff.lines:
        text.append("\n" + line.text, style(KIND_STYLES[line.kind]))
    return text
