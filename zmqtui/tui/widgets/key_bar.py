"""The footer line: every key that works right now, as one line of text.

Textual's `Footer` builds a widget per key and rebuilds them all whenever the bindings change,
which is every focus change: half of what switching panes cost here. This bar renders the same
bindings (those with `show=True`, disabled ones dimmed, a group's keys under its one
description, the command palette key on the right) as a single line of text; when the line is
too narrow, the app's keys whose actions it names in `FOOTER_YIELDING` (views, recording) give
way first, then the focused widget's keys; the app's others stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.binding import ActiveBinding, Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget

from zmqtui.tui.keys import declared_bindings


class KeyBar(Widget):
    """The keys of the focused widget and its ancestors, then the app's, with what they do."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"key-bar--key", "key-bar--description"}

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .key-bar--key { color: $footer-key-foreground; text-style: bold; }
        & > .key-bar--description { color: $footer-description-foreground; }
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def _bindings_changed(self, screen: Screen) -> None:
        if screen is self.screen:
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key", partial=True)
        description_style = self.get_component_rich_style("key-bar--description", partial=True)
        active = self.screen.active_bindings
        items: list[KeyItem] = []
        by_group: dict[Binding.Group, KeyItem] = {}
        for node, binding, enabled in self._in_order(active.values()):
            if not binding.show or any(binding.action == item.action for item in items):
                continue
            key = self.app.get_key_display(binding)
            group = binding.group
            if group is not None and group in by_group:
                by_group[group].keys.append(key)
                continue
            description = group.description if group is not None else binding.description
            tier = self._tier(node, binding)
            item = KeyItem(binding.action, [key], description, enabled, tier, group)
            items.append(item)
            if group is not None:
                by_group[group] = item
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        hint = Text()
        if palette is not None and self.app.ENABLE_COMMAND_PALETTE:
            hint = Text.assemble(
                (f" {self.app.get_key_display(palette.binding)} ", key_style),
                (f"{palette.binding.description} ", description_style),
            )
        rendered = [item.render(key_style, description_style) for item in items]
        room = self.size.width - hint.cell_len
        # Too wide: the app's yielding keys give way first, then the focused pane's, each from
        # the last; the app's others (panes, help, quit) stay, and f1 lists every key.
        for tier in (YIELDING, FOCUSED):
            for index in reversed(range(len(items))):
                if sum(text.cell_len for text in rendered) <= room:
                    break
                if items[index].tier == tier:
                    rendered[index] = Text()
        text = Text(no_wrap=True, overflow="ellipsis").join(rendered)
        text.truncate(max(0, room), overflow="ellipsis", pad=True)
        return text + hint

    def _tier(self, node: DOMNode, binding: Binding) -> int:
        if node is not self.app:
            return FOCUSED
        yielding: frozenset[str] = getattr(self.app, "FOOTER_YIELDING", frozenset())
        return YIELDING if binding.action in yielding else LASTING

    def _in_order(self, active: Iterable[ActiveBinding]) -> Iterator[tuple[DOMNode, Binding, bool]]:
        """The focused widget's keys as Textual chains them, then the app's as it declares
        them: of two keys for one action (`q`, `ctrl+c`) the first that works is shown."""
        declared = [binding.key for binding in declared_bindings(type(self.app), own_first=True)]

        def rank(binding: Binding) -> int:
            return declared.index(binding.key) if binding.key in declared else len(declared)

        widgets = [(n, b, e) for n, b, e, _ in active if n is not self.app]
        app = sorted(
            ((n, b, e) for n, b, e, _ in active if n is self.app), key=lambda a: rank(a[1])
        )
        yield from widgets
        yield from app


YIELDING, FOCUSED, LASTING = 0, 1, 2
"""How long an entry stays when the bar is too narrow: the app's yielding keys give way first,
then the focused widget's; the app's others stay."""


@dataclass(slots=True)
class KeyItem:
    """One entry of the bar: a key (or a group of keys) and what it does."""

    action: str
    keys: list[str]
    description: str
    enabled: bool
    tier: int
    """`FOCUSED`, `YIELDING` or `LASTING`: when it gives way on a narrow bar."""
    group: Binding.Group | None = None

    def render(self, key_style: Style, description_style: Style) -> Text:
        dim = Style.null() if self.enabled else Style(dim=True)
        joiner = "" if self.group is not None and self.group.compact else " "
        return Text.assemble(
            (f" {joiner.join(self.keys)} ", key_style + dim),
            (f"{self.description} ", description_style + dim),
        )
