"""The frame syntax: how a user writes a message's frames, and how a frame is shown back.

`zmqtui send` (and the composer) take one argument per frame:

| written            | the frame's bytes                                           |
|--------------------|-------------------------------------------------------------|
| `json:{"a": 1}`    | the JSON text as written (UTF-8), checked to be JSON first  |
| `text:hello`       | the text, UTF-8                                             |
| `hex:00 ff`        | the bytes in hex; spaces between bytes are allowed          |
| `b64:AP8=`         | the bytes in base64                                         |
| `@file.bin`        | the file's bytes, at most `max_file_bytes`                  |
| anything else      | the argument as text, byte for byte (never parsed)          |

A bare argument is text, never JSON-if-it-parses: both would send the same bytes, and text
cannot surprise (`42` stays two characters); `json:` is how to ask for the check. Text that
starts with a prefix (`@`, `hex:`...) is written `text:@...`.

A frame is shown back in the same syntax (`format_frame`): `json:` for a JSON object or array,
`text:` for UTF-8 without control characters other than tab and newlines, else `hex:`; JSON and
text as they came (escaped, one line), so what is shown is what was sent. Bytes that read as
msgpack or protobuf wire format are shown decoded (`msgpack:{...}`, `protobuf:1: 150`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any

import orjson

from zmqtui.decoders import decode_frame, one_line, plain
from zmqtui.text import printable

MAX_FILE_BYTES = 16 * 1024 * 1024
"""Largest file `@file` reads into a frame."""
PREFIXES = ("json:", "text:", "hex:", "b64:", "@")
"""What a frame argument may start with to say how it is written."""
BINARY_DECODERS = ("msgpack", "protobuf")
"""Decoders (`zmqtui.decoders`) a frame that is not text is shown through when it reads as
theirs; shown only: such a frame is sent written as `hex:` or `b64:`."""

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Characters that make UTF-8 bytes show as hex rather than text: C0 (but tab, newline, carriage
return), DEL and C1 controls."""


class FrameSyntaxError(ValueError):
    """A frame argument that does not say a frame, with where in the argument it goes wrong."""

    def __init__(self, argument: str, offset: int, reason: str) -> None:
        super().__init__(f"{reason} (at character {offset + 1})")
        self.argument = argument
        self.offset = offset
        """Index in `argument` of the first character in error (its length when it ended early)."""
        self.reason = reason


def parse_frame(argument: str, *, max_file_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes `argument` writes (see the module's table); `FrameSyntaxError` if it cannot.

    Text is encoded with `surrogateescape`, so a command-line argument that was not UTF-8
    gives back the bytes the shell passed.
    """
    if argument.startswith("json:"):
        return _json(argument, len("json:"))
    if argument.startswith("text:"):
        return _utf8(argument[len("text:") :])
    if argument.startswith("hex:"):
        return _hex(argument, len("hex:"))
    if argument.startswith("b64:"):
        return _base64(argument, len("b64:"))
    if argument.startswith("@"):
        return _file(argument, max_file_bytes)
    return _utf8(argument)


def anchor_file(argument: str, base: Path) -> str:
    """`argument` with a relative `@file` made absolute under `base` (the directory it was
    written relative to), so that it names the same file from anywhere; any other frame as it
    is."""
    if not argument.startswith("@") or len(argument) == 1:
        return argument
    path = Path(argument[1:])
    return argument if path.is_absolute() else "@" + str(base / path)


def parse_frames(arguments: list[str], *, max_file_bytes: int = MAX_FILE_BYTES) -> list[bytes]:
    """Every argument's frame, in order; the error says which frame is wrong."""
    frames = []
    for number, argument in enumerate(arguments, 1):
        try:
            frames.append(parse_frame(argument, max_file_bytes=max_file_bytes))
        except FrameSyntaxError as exc:
            raise FrameSyntaxError(argument, exc.offset, f"frame {number}: {exc.reason}") from None
    return frames


def format_frame(frame: bytes, *, limit: int | None = None) -> str:
    """`frame` written in the frame syntax, safe to print on one line (see `printable`): JSON
    and text as they came, newlines and tabs escaped."""
    kind, text = _read(frame)
    if text is not None:
        return f"{kind}:" + printable(text, limit=limit)
    decoded = decode_frame(frame)
    if decoded.decoder in BINARY_DECODERS:
        return f"{decoded.decoder}:" + one_line(decoded, limit)
    return "hex:" + printable(frame.hex(), limit=limit)


def frame_value(frame: bytes) -> dict[str, Any]:
    """`frame` as a JSON-ready value saying how it reads: `{"json": VALUE}` for a JSON object or
    array, `{"text": STR}` for text, else `{"b64": STR}`, with `"msgpack"` or `"protobuf"`
    beside it (the decoded value) when the bytes read as one of them."""
    kind, text = _read(frame)
    if text is None:
        value = {"b64": base64.b64encode(frame).decode("ascii")}
        decoded = decode_frame(frame)
        if decoded.decoder in BINARY_DECODERS:
            value[decoded.decoder] = plain(decoded.value)
        return value
    if kind == "json":
        return {"json": json.loads(text)}
    return {"text": text}


def _read(frame: bytes) -> tuple[str, str | None]:
    """How `frame` is shown: ("json", text), ("text", text) or ("hex", None)."""
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        return "hex", None
    if not text.isprintable() and _CONTROLS.search(text):
        return "hex", None
    if text.lstrip()[:1] in ("{", "[") and _is_json(frame, text):
        return "json", text
    return "text", text


def _is_json(frame: bytes, text: str) -> bool:
    try:
        orjson.loads(frame)
    except orjson.JSONDecodeError:  # json reads a few things orjson refuses (lone surrogates)
        try:
            json.loads(text, parse_constant=_refuse_constant)
        except ValueError:
            return False
    return True


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _json(argument: str, start: int) -> bytes:
    text = argument[start:]
    try:
        json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise FrameSyntaxError(argument, start + exc.pos, f"not JSON: {exc.msg}") from None
    except _NotJson as exc:
        raise FrameSyntaxError(argument, start + text.find(exc.name), str(exc)) from None
    return _utf8(text)


class _NotJson(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"not JSON: {name} is not a JSON value")
        self.name = name


def _refuse_constant(name: str) -> Any:
    """Python's json reads NaN and Infinity; JSON has neither."""
    raise _NotJson(name)


def _hex(argument: str, start: int) -> bytes:
    digits: list[str] = []
    pending = -1
    for index in range(start, len(argument)):
        char = argument[index]
        if char == " ":
            if pending >= 0:
                raise FrameSyntaxError(argument, pending, "hex: a byte needs two digits")
            continue
        if char not in _HEX_DIGITS:
            raise FrameSyntaxError(argument, index, f"hex: {printable(char)!r} is not a hex digit")
        digits.append(char)
        pending = -1 if pending >= 0 else index
    if pending >= 0:
        raise FrameSyntaxError(argument, pending, "hex: a byte needs two digits")
    return bytes.fromhex("".join(digits))


def _base64(argument: str, start: int) -> bytes:
    text = argument[start:]
    for index, char in enumerate(text):
        if not (char.isascii() and (char.isalnum() or char in "+/=")):
            raise FrameSyntaxError(
                argument, start + index, f"b64: {printable(char)!r} is not a base64 character"
            )
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise FrameSyntaxError(argument, len(argument), f"b64: {exc}") from None


def _file(argument: str, max_file_bytes: int) -> bytes:
    name = printable(argument[1:])
    if not name:
        raise FrameSyntaxError(argument, 1, "@ needs a file name (text:@ for the text '@')")
    try:
        with Path(argument[1:]).open("rb") as file:
            data = file.read(max_file_bytes + 1)
    except OSError as exc:
        raise FrameSyntaxError(argument, 1, f"cannot read {name}: {exc.strerror}") from None
    if len(data) > max_file_bytes:
        raise FrameSyntaxError(argument, 1, f"{name} is larger than {max_file_bytes} bytes")
    return data
