"""Ask for the name a request is saved under in the collection, saying where it will go."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from zmqtui.collection import CollectionError, request_path
from zmqtui.text import printable


class SaveRequestScreen(ModalScreen[str | None]):
    """A name for the request (folders joined by `/`); dismissed with the name once `save`
    accepted it, or None on escape.

    Args:
        root: The collection directory, to say which file the name writes.
        name: The name to start from (the request's own, when it has one).
        save: Saves under the name; `CollectionError` keeps the dialog open, saying why.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_without_saving", "Cancel", tooltip="close without saving"),
    ]

    DEFAULT_CSS = """
    SaveRequestScreen {
        align: center middle;
        & > Vertical {
            width: 70;
            max-width: 95%;
            height: auto;
            border: thick $primary;
            background: $surface;
            padding: 0 1;
        }
        #save-name { border: none; height: 1; padding: 0 1; background: $panel-lighten-2; }
        #save-where { color: $text-muted; height: auto; }
        #save-where.-error { color: $text-error; }
    }
    """

    def __init__(self, root: Path, name: str, save: Callable[[str], object]) -> None:
        super().__init__()
        self.root = root
        self.initial_name = name
        self.save = save

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Save the request as (folders with /)")
            yield Input(self.initial_name, id="save-name")
            yield Static(id="save-where")

    def on_mount(self) -> None:
        self._describe(self.initial_name)

    @on(Input.Changed, "#save-name")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self._describe(event.value)

    @on(Input.Submitted, "#save-name")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.save(event.value)
        except (CollectionError, OSError) as exc:
            self._say(str(exc), error=True)
            return
        self.dismiss(event.value)

    def action_dismiss_without_saving(self) -> None:
        self.dismiss(None)

    def _describe(self, name: str) -> None:
        try:
            path = request_path(self.root, name)
        except CollectionError as exc:
            self._say(str(exc), error=True)
            return
        verb = "replaces" if path.exists() else "writes"
        self._say(f"enter {verb} {path}; escape cancels", error=False)

    def _say(self, message: str, *, error: bool) -> None:
        where = self.query_one("#save-where", Static)
        where.update(Text(printable(message)))
        where.set_class(error, "-error")
