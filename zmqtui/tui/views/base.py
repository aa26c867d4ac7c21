"""The view contract: what the app asks of every full-screen view, so that it never asks which
view it has.

A view covers the panes until it is closed; one is up at a time. A view of the monitor
subclasses `View` and

- names itself and its key: `NAME`, and `KEY`, which opens it (the app's binding, made by
  `binding`, with `DESCRIPTION` and `TOOLTIP`) and closes it again; the view's own `BINDINGS`
  name that key and `escape` beside its other keys, so its footer says how to leave;
- says what it shows: `HELP` (Markdown), its section in the f1 help, with its keys from its
  `BINDINGS`;
- is made by `create(app)` from what the app holds (its clock, endpoints, logs); a `KEPT` view
  is made once and kept for the session (its order and choices stay), any other is made
  anew at each opening;
- keeps its backend query alive while it is up: `ask` runs whenever it comes up (opened, or
  back from the help or the palette over it), `stop_asking` once whenever it goes, so the
  backend works for a view only while it is seen;
- hears about the sockets through `show_connection` (by default it ignores them).

The app routes the backend's answers to the view that asked (`view`), closes the view for a
pane's key (`1`-`4`) or another view's key, and hides the keys that act on the panes' screen
(`m` maximise, `h` hide, `0` show all) while a view is up: they need the panes in sight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

from textual.binding import Binding
from textual.screen import Screen

if TYPE_CHECKING:
    from zmqtui.tui.app import ZmqtuiApp


class View(Screen[None]):
    """One of the monitor's full-screen views (see the module's docstring for the contract)."""

    NAME: ClassVar[str] = ""
    """The view's name in the app: its key's action (`view('NAME')`), a kept view's screen name."""

    KEY: ClassVar[str] = ""
    """The app-level key that opens the view, and closes it while it is up."""

    DESCRIPTION: ClassVar[str] = ""
    """The view's name: its key's description in the footer and the palette, its help heading."""

    TOOLTIP: ClassVar[str] = ""
    """What the view shows, in a line: the help's and the palette's text for its key."""

    HELP: ClassVar[str] = ""
    """What the view shows, for its section of the help screen (Markdown)."""

    KEPT: ClassVar[bool] = False
    """Made once and kept for the session, rather than made anew at each opening."""

    asking = False
    """Whether the view is up and its backend query alive."""

    @classmethod
    def binding(cls, *, show: bool = False) -> Binding:
        """The app's binding that opens the view (or closes it while it is up); `show`: in the
        footer."""
        return Binding(
            cls.KEY, f"view('{cls.NAME}')", cls.DESCRIPTION, show=show, tooltip=cls.TOOLTIP
        )

    @classmethod
    def create(cls, app: ZmqtuiApp) -> Self:
        """The view, made from what `app` holds."""
        raise NotImplementedError(f"{cls.__name__} says not how it is made")

    def ask(self) -> None:
        """Ask the backend for what the view shows, and to keep it coming while it is up."""

    def stop_asking(self) -> None:
        """Tell the backend the view no longer needs its answers."""

    def show_connection(self, socket: str, state: str) -> None:
        """Backend socket `socket` is now in `state` (as the connection bar shows it)."""

    def on_screen_resume(self) -> None:
        self.asking = True
        self.ask()

    def on_screen_suspend(self) -> None:
        self._stop()

    def on_unmount(self) -> None:
        self._stop()  # a view made anew is removed when closed, maybe before its suspension

    def _stop(self) -> None:
        if self.asking:
            self.asking = False
            self.stop_asking()
