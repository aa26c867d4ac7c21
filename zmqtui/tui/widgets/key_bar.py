"""The footer line: every key that works right now, as one line of text.

Textual's `Footer` builds a widget per key and rebuilds them all whenever the bindings change,
which is every focus change: half of what switching panes cost here. This bar renders the same
bindings (those with `show=True`, disabled ones dimmed, the command palette key on the right)
as a single line of text.
"""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.screen import Screen
from textual.widget import Widget


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
        text = Text(no_wrap=True, overflow="ellipsis")
        actions: set[str] = set()
        for _node, binding, enabled, _tooltip in active.values():
            if not binding.show or binding.action in actions:
                continue
            actions.add(binding.action)
            dim = Style.null() if enabled else Style(dim=True)
            text.append(f" {self.app.get_key_display(binding)} ", key_style + dim)
            text.append(f"{binding.description} ", description_style + dim)
        palette = active.get(self.app.COMMAND_PALETTE_BINDING)
        if palette is not None and self.app.ENABLE_COMMAND_PALETTE:
            hint = Text.assemble(
                (f" {self.app.get_key_display(palette.binding)} ", key_style),
                (f"{palette.binding.description} ", description_style),
            )
            room = self.size.width - hint.cell_len
            text.truncate(max(0, room), pad=True)
            text.append_text(hint)
        return text
