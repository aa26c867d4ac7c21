"""The monitor's keys, read from the `BINDINGS` of the app and of each pane.

A key is written once, in a `BINDINGS` list, with a short description (the footer's) and a
tooltip (the help's and the palette's longer text). The f1 help, the command palette and the
footer are generated from those lists, so none of them can forget a key or disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from textual.binding import Binding, BindingType
from textual.dom import DOMNode

OWN_PACKAGE = "zmqtui."


def declared_bindings(cls: type[DOMNode], *, own_first: bool = False) -> list[Binding]:
    """The bindings `cls` and its zmqtui base classes declare (Textual's own are left out:
    they are scrolling and focus keys every widget has); base classes' first, unless
    `own_first` (the footer shows a special app's keys, `--open`'s, before the usual ones)."""
    bindings: list[Binding] = []
    for klass in cls.__mro__ if own_first else reversed(cls.__mro__):
        if not klass.__module__.startswith(OWN_PACKAGE):
            continue
        declared: Iterable[BindingType] = vars(klass).get("BINDINGS", ())
        bindings.extend(Binding.make_bindings(declared))
    return bindings


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One thing the user can do, and every key that does it."""

    keys: tuple[str, ...]
    """How each key is shown (`f1`, `?`, `^s`)."""
    binding: Binding
    """The first binding for it (its action, description and tooltip)."""

    @property
    def text(self) -> str:
        """What the key does, at length (the tooltip, else the description)."""
        return self.binding.tooltip or self.binding.description


def key_entries(
    bindings: Iterable[Binding], display: Callable[[Binding], str], *, by_group: bool = False
) -> list[KeyEntry]:
    """Bindings with the same action and description merged into one entry, in order; with
    `by_group`, a group's bindings too (`1` to `4`: one line of the help)."""
    merged: dict[object, list[Binding]] = {}
    for binding in bindings:
        same = (
            binding.group if by_group and binding.group else (binding.action, binding.description)
        )
        merged.setdefault(same, []).append(binding)
    entries = []
    for group in merged.values():
        keys = tuple(dict.fromkeys(display(binding) for binding in group))
        entries.append(KeyEntry(keys, group[0]))
    return entries


def markdown_cell(text: str) -> str:
    """`text` safe in a Markdown table cell: a `|`, even in a code span, no longer ends it."""
    return text.replace("|", "\\|").replace("\n", " ")


def key_table(entries: Iterable[KeyEntry]) -> str:
    """A Markdown table of keys and what they do."""
    rows = ["| key | action |", "|---|---|"]
    for entry in entries:
        keys = " ".join(f"`{key}`" for key in entry.keys)
        rows.append(f"| {markdown_cell(keys)} | {markdown_cell(entry.text)} |")
    return "\n".join(rows)
