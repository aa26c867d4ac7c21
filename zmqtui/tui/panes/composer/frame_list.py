"""The message's frames in the composer: one field per frame, written in the frame syntax
(`zmqtui.frames`), checked as it is typed with the place of an error marked in the field."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Mapping
from typing import ClassVar

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widgets import Input, Label

from zmqtui.collection import VariableError, fill_text, written_offset
from zmqtui.frames import MAX_FILE_BYTES, FrameSyntaxError, parse_frame
from zmqtui.text import printable

FRAME_KINDS = ("json", "text", "hex", "b64", "file")
"""How a frame may be written, in the order `ctrl+t` cycles through them."""
_PREFIXES = {"json": "json:", "text": "text:", "hex": "hex:", "b64": "b64:", "file": "@"}
ERROR_PLACE = Style(reverse=True, bold=True)


def frame_kind(argument: str) -> str:
    """How `argument` is written: one of `FRAME_KINDS` (a bare argument is text)."""
    for kind, prefix in _PREFIXES.items():
        if argument.startswith(prefix):
            return kind
    return "text"


def _body(argument: str) -> str:
    prefix = _PREFIXES[frame_kind(argument)]
    return argument[len(prefix) :] if argument.startswith(prefix) else argument


def check_frame(
    argument: str, variables: Mapping[str, str] | None = None
) -> FrameSyntaxError | None:
    """What is wrong with `argument`, None when it writes a frame. A file is only looked at
    (it exists, is a regular file, not too large): never read on each keystroke. With
    `variables` (the collection environment's), a frame holding `${name}` is checked as it
    will go, filled: `json:{"n": ${n}}` is JSON once `n` is a number; a variable it does not
    know is left to be named when the message is sent."""
    if variables is not None and "${" in argument:
        return _check_filled(argument, variables)
    if not argument.startswith("@"):
        try:
            parse_frame(argument)
        except FrameSyntaxError as exc:
            return exc
        return None
    name = argument[1:]
    if not name:
        return FrameSyntaxError(argument, 1, "@ needs a file name (text:@ for the text '@')")
    try:
        info = os.stat(name)
    except OSError as exc:
        return FrameSyntaxError(argument, 1, f"cannot read {printable(name)}: {exc.strerror}")
    if not stat.S_ISREG(info.st_mode):
        return FrameSyntaxError(argument, 1, f"{printable(name)} is not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        return FrameSyntaxError(argument, 1, f"{printable(name)} is larger than {MAX_FILE_BYTES}")
    return None


def _check_filled(argument: str, variables: Mapping[str, str]) -> FrameSyntaxError | None:
    """`check_frame` of `argument` filled, the error placed and worded for `argument`."""
    try:
        filled, parts = fill_text(argument, variables)
    except VariableError:
        return None
    error = check_frame(filled)
    if error is None:
        return None
    offset, part = written_offset(error.offset, parts)
    if part is not None and part.name:
        where = f"${{{part.name}}} is {printable(part.value)!r} here"
    else:
        where = "its variables filled"
    return FrameSyntaxError(argument, offset, f"{error.reason} ({where})")


def retype(argument: str, kind: str) -> str:
    """`argument` written as `kind`: the same bytes when they can be (`text:hi` -> `hex:68 69`;
    never text a terminal must not be sent), else the prefix changed and the rest kept (a file
    name is never read here)."""
    data = None
    if frame_kind(argument) != "file" and check_frame(argument) is None:
        data = parse_frame(argument)
    if data is not None and kind != "file":
        if kind == "hex":
            return "hex:" + data.hex(" ")
        if kind == "b64":
            return "b64:" + base64.b64encode(data).decode("ascii")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and printable(text) == text and (kind == "text" or _is_json(text)):
            return _PREFIXES[kind] + text
    return _PREFIXES[kind] + _body(argument)


def shown_frame(argument: str) -> str:
    """`argument` as a field can show it: itself, or when it holds characters a terminal must
    not be sent (controls, bidi overrides, newlines) the same bytes written `hex:`; a file name
    or a frame in error escaped (`\\x1b`), so it shows what is wrong."""
    if printable(argument) == argument:
        return argument
    if frame_kind(argument) != "file" and check_frame(argument) is None:
        return retype(argument, "hex")
    return printable(argument)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


class ErrorPlace(Highlighter):
    """Marks the character where the field's frame goes wrong."""

    def __init__(self, field: FrameInput) -> None:
        self.field = field

    def highlight(self, text: Text) -> None:
        error = self.field.error
        if error is None or not text:
            return
        start = min(error.offset, len(text) - 1)
        text.stylize(ERROR_PLACE, start, start + 1)


class FrameSyntax(Validator):
    """Checks a frame as it is typed (`check_frame`) and keeps the error on its field, so the
    field marks its place."""

    def __init__(self, field: FrameInput) -> None:
        super().__init__()
        self.field = field

    def validate(self, value: str) -> ValidationResult:
        self.field.error = check_frame(value, self.field.variables)
        if self.field.error is None:
            return self.success()
        return self.failure(str(self.field.error))


class FrameInput(Input):
    """One frame in the frame syntax; `error` says what is wrong with it as typed, its
    `variables` filled (the field is `-invalid` then)."""

    def __init__(
        self,
        value: str,
        *,
        variables: Mapping[str, str] | None = None,
        classes: str | None = None,
    ) -> None:
        self.variables = variables
        """The collection environment's variables, the frame checked filled (None: as it is)."""
        self.error: FrameSyntaxError | None = check_frame(value, variables)
        super().__init__(
            value,
            classes=classes,
            highlighter=ErrorPlace(self),
            validators=[FrameSyntax(self)],
            select_on_focus=False,
        )


class FrameRow(Horizontal):
    """A frame's number and kind, then its field."""

    def __init__(self, value: str, variables: Mapping[str, str] | None = None) -> None:
        super().__init__(classes="composer-frame-row")
        self.field = FrameInput(shown_frame(value), variables=variables, classes="composer-frame")

    def compose(self) -> ComposeResult:
        yield Label(classes="composer-frame-kind")
        yield self.field

    def show_number(self, number: int) -> None:
        kind = frame_kind(self.field.value)
        self.query_one(Label).update(f"{number} {kind}")


class FrameList(VerticalScroll, can_focus=False):
    """The frames of the message, one row each; at least one."""

    DEFAULT_FRAMES: ClassVar[tuple[str, ...]] = ("json:{}",)

    def __init__(self, frames: tuple[str, ...] = (), *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = frames or self.DEFAULT_FRAMES
        self.variables: Mapping[str, str] | None = None
        """The collection environment's variables, each frame checked filled (None: none)."""

    def compose(self) -> ComposeResult:
        for value in self._initial:
            yield FrameRow(value, self.variables)

    def set_variables(self, variables: Mapping[str, str] | None) -> None:
        """Check every frame again, filled from `variables` (another environment chosen)."""
        self.variables = variables
        for field in self.fields:
            field.variables = variables
            field.validate(field.value)
            field.refresh()  # the place of an error, marked by the highlighter

    def on_mount(self) -> None:
        self.renumber()

    @property
    def rows(self) -> list[FrameRow]:
        return list(self.query_children(FrameRow))

    @property
    def fields(self) -> list[FrameInput]:
        return [row.field for row in self.rows]

    @property
    def frames(self) -> tuple[str, ...]:
        """Every frame as written, in order."""
        return tuple(field.value for field in self.fields)

    def renumber(self) -> None:
        for number, row in enumerate(self.rows, 1):
            row.show_number(number)

    def on_input_changed(self, event: Input.Changed) -> None:
        row = event.input.parent
        if isinstance(row, FrameRow):
            row.show_number(self.rows.index(row) + 1)

    def errors(self) -> list[tuple[int, FrameSyntaxError]]:
        """(index, error) for each frame that does not parse."""
        return [(i, f.error) for i, f in enumerate(self.fields) if f.error is not None]

    def focused_index(self) -> int | None:
        focused = self.app.focused
        for index, field in enumerate(self.fields):
            if field is focused:
                return index
        return None

    async def set_frames(self, frames: tuple[str, ...]) -> None:
        """Show `frames` in place of the ones shown (the default frame when empty)."""
        await self.remove_children()
        rows = [FrameRow(value, self.variables) for value in frames or self.DEFAULT_FRAMES]
        await self.mount_all(rows)
        self.renumber()

    async def add_frame(self, after: int | None, value: str = "text:") -> FrameInput:
        """A new frame after the frame `after` (None: at the end); its field is returned."""
        rows = self.rows
        row = FrameRow(value, self.variables)
        if after is None or after >= len(rows) - 1:
            await self.mount(row)
        else:
            await self.mount(row, after=rows[after])
        self.renumber()
        row.scroll_visible(animate=False)
        return row.field

    async def drop_frame(self, index: int) -> None:
        """Remove the frame `index`, unless it is the only one."""
        rows = self.rows
        if len(rows) > 1:
            await rows[index].remove()
            self.renumber()

    def move_frame(self, index: int, delta: int) -> int:
        """Swap the frame `index` with its neighbour `delta` away; the index it moved to."""
        fields = self.fields
        other = index + delta
        if not 0 <= other < len(fields):
            return index
        fields[index].value, fields[other].value = fields[other].value, fields[index].value
        self.renumber()
        return other
