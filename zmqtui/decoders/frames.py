"""Decoders for one frame, by name, and the automatic choice among them.

`decode_frame(frame)` tries JSON, msgpack, UTF-8 text, protobuf wire format and takes the first
that fits, else a hex dump; `decode_frame(frame, "msgpack")` uses the one named, and only then
can decoding fail (the result carries the error: the one case shown as malformed). Each guard
keeps false positives out: text is never taken for msgpack or protobuf, a lone number byte is
not msgpack. Decoders never raise.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import msgpack
import orjson

from zmqtui.decoders.protobuf import ProtoField, parse_message

DecoderName = Literal["json", "msgpack", "protobuf", "text", "hex", "raw"]
DECODER_NAMES: tuple[DecoderName, ...] = get_args(DecoderName)
AUTO = "auto"
"""The choice among the decoders made per frame (`decode_frame`'s default)."""
CHOICES: tuple[str, ...] = (AUTO, *DECODER_NAMES)
"""What a user may name: "auto" or a decoder; the order a key cycles through them."""

_JSON_STARTS = frozenset(b' \t\r\n{["-0123456789tfn')
_BINARY_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f]")
"""Control bytes text does not carry: all but a log line's tabs, newlines and colours."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """A frame as a decoder read it.

    `value` is what the decoder made of the frame: any JSON or msgpack value, a tuple of
    `ProtoField`, a str (text), or the frame's bytes (hex, raw, or a decoder that failed).
    `error` says why the decoder the user asked for could not read the frame.
    """

    decoder: DecoderName
    value: Any
    frame: bytes
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


class DecodeError(ValueError):
    """A decoder cannot read a frame."""


def read_json(frame: bytes) -> Any:
    if not frame or frame[0] not in _JSON_STARTS:
        raise DecodeError("not JSON")
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None


def read_msgpack(frame: bytes) -> Any:
    try:
        return msgpack.unpackb(frame, raw=False, strict_map_key=False, use_list=True)
    except msgpack.ExtraData:
        raise DecodeError("not msgpack: bytes left over after one value") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        # invalid UTF-8 in a string, a truncated value, nesting past the unpacker's stack
        raise DecodeError(f"not msgpack: {exc or type(exc).__name__}") from None


def read_protobuf(frame: bytes) -> tuple[ProtoField, ...]:
    fields = parse_message(frame)
    if fields is None:
        raise DecodeError("not protobuf wire format")
    return fields


def read_text(frame: bytes) -> str:
    try:
        return frame.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"not UTF-8 text: byte {exc.start} is 0x{frame[exc.start]:02x}") from None


def _keep_bytes(frame: bytes) -> bytes:
    return frame


READERS: dict[DecoderName, Callable[[bytes], Any]] = {
    "json": read_json,
    "msgpack": read_msgpack,
    "protobuf": read_protobuf,
    "text": read_text,
    "hex": _keep_bytes,
    "raw": _keep_bytes,
}
"""The registry: each decoder by name."""


def parse_decoder_name(name: str) -> str:
    """A decoder (or "auto") named in a setting or option, or ValueError listing them."""
    if name not in CHOICES:
        raise ValueError(f"decoder must be one of {', '.join(CHOICES)}, not {name!r}")
    return name


def decode_frame(frame: bytes, decoder: str = AUTO) -> Decoded:
    """`frame` read by the named decoder, or by the first that fits when `decoder` is "auto"."""
    if decoder == AUTO:
        return _auto(frame)
    name: DecoderName = decoder  # type: ignore[assignment]
    try:
        return Decoded(name, READERS[name](frame), frame)
    except DecodeError as exc:
        return Decoded(name, frame, frame, str(exc))


def decode_head(frame: bytes, size: int) -> Decoded:
    """A frame's first `size` bytes read as text when they are text, else as hex, the frame
    kept whole: what a one-line row shows of a frame too large to decode whole for it."""
    head = frame[:size]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the end is left out
        text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else None
    if text is not None and not _BINARY_BYTE.search(head):
        return Decoded("text", text, frame)
    return Decoded("hex", frame, frame)


def _auto(frame: bytes) -> Decoded:
    if frame and frame[0] in _JSON_STARTS:
        try:
            return Decoded("json", orjson.loads(frame), frame)
        except orjson.JSONDecodeError:
            pass
    if _may_be_msgpack(frame):
        try:
            value = read_msgpack(frame)
        except DecodeError:
            pass
        else:
            if isinstance(value, dict | list) and value:
                return Decoded("msgpack", value, frame)
    text = _text_of(frame)
    if text is not None and not _BINARY_BYTE.search(frame):
        return Decoded("text", text, frame)
    fields = parse_message(frame)
    if fields is not None:
        return Decoded("protobuf", fields, frame)
    return Decoded("hex", frame, frame)


def _may_be_msgpack(frame: bytes) -> bool:
    """A msgpack map or array: fixmap, fixarray, array 16/32, map 16/32. Their first byte is
    never the first byte of ASCII text."""
    return len(frame) > 1 and (0x80 <= frame[0] <= 0x9F or 0xDC <= frame[0] <= 0xDF)


def _text_of(frame: bytes) -> str | None:
    try:
        return frame.decode("utf-8")
    except UnicodeDecodeError:
        return None
