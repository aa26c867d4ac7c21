"""Protocol Buffers wire format read without a schema, like `protoc --decode_raw`.

A frame is a sequence of fields: a varint tag (field number << 3 | wire type), then a varint, a
fixed 32- or 64-bit value, or a length-delimited run of bytes. A length-delimited value is shown
as a nested message when it parses fully as one, as a string when it is UTF-8 text, else as
bytes. Deprecated groups (wire types 3 and 4) are refused: a frame using them is not taken for
protobuf. Never raises on any input; nesting is bounded by `MAX_DEPTH`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Literal

WireType = Literal["varint", "fixed64", "bytes", "fixed32"]
MAX_DEPTH = 32
"""Nested messages deeper than this are shown as bytes."""
MAX_FIELD_NUMBER = (1 << 29) - 1
_WIRE_TYPES: dict[int, WireType] = {0: "varint", 1: "fixed64", 2: "bytes", 5: "fixed32"}


class _NotProtobuf(Exception):
    """The bytes are not a whole protobuf message."""


@dataclass(frozen=True, slots=True)
class ProtoField:
    """One field as read from the wire: its number, wire type and value.

    `value` is an int (varint, fixed32, fixed64), a tuple of fields (a nested message), a str
    (UTF-8 text) or bytes.
    """

    number: int
    wire_type: WireType
    value: int | str | bytes | tuple[ProtoField, ...]


def parse_message(data: bytes, depth: int = 0) -> tuple[ProtoField, ...] | None:
    """The fields of `data` when all of it parses as a message, else None."""
    try:
        return _parse(memoryview(data), depth)
    except _NotProtobuf:
        return None


def _parse(data: memoryview, depth: int) -> tuple[ProtoField, ...]:
    fields: list[ProtoField] = []
    end = len(data)
    pos = 0
    while pos < end:
        tag, pos = _varint(data, pos)
        number, kind = tag >> 3, _WIRE_TYPES.get(tag & 7)
        if kind is None or not 0 < number <= MAX_FIELD_NUMBER:
            raise _NotProtobuf
        value: Any
        if kind == "varint":
            value, pos = _varint(data, pos)
        elif kind == "fixed64" or kind == "fixed32":
            size = 8 if kind == "fixed64" else 4
            if pos + size > end:
                raise _NotProtobuf
            value = int.from_bytes(data[pos : pos + size], "little")
            pos += size
        else:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise _NotProtobuf
            value = _length_delimited(bytes(data[pos : pos + length]), depth)
            pos += length
        fields.append(ProtoField(number, kind, value))
    if not fields:
        raise _NotProtobuf
    return tuple(fields)


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(pos, min(pos + 10, len(data))):
        byte = data[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, index + 1
        shift += 7
    raise _NotProtobuf


def _length_delimited(data: bytes, depth: int) -> str | bytes | tuple[ProtoField, ...]:
    text = _text(data)
    if text is not None:
        return text
    if depth + 1 < MAX_DEPTH:
        nested = parse_message(data, depth + 1)
        if nested is not None:
            return nested
    return data


def _text(data: bytes) -> str | None:
    """`data` as a string when it is UTF-8 that reads as text (printable, or tabs and newlines)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.isprintable() or all(c.isprintable() or c in "\t\n\r" for c in text):
        return text
    return None


def signed(value: int, wire_type: WireType) -> int:
    """A fixed or varint value read as two's complement (int32/int64/sfixed)."""
    bits = 32 if wire_type == "fixed32" else 64
    return value - (1 << bits) if value >= 1 << (bits - 1) else value


def as_double(value: int, wire_type: WireType) -> float:
    """A fixed64 value read as a double, or a fixed32 as a float."""
    if wire_type == "fixed32":
        return struct.unpack("<f", value.to_bytes(4, "little"))[0]
    return struct.unpack("<d", value.to_bytes(8, "little"))[0]


def to_plain(fields: tuple[ProtoField, ...]) -> dict[str, Any]:
    """Fields as a mapping from field number (as text) to value; a repeated field's values as a
    list. Nested messages become mappings; bytes stay bytes."""
    out: dict[str, Any] = {}
    repeated: set[str] = set()
    for field in fields:
        value = to_plain(field.value) if isinstance(field.value, tuple) else field.value
        key = str(field.number)
        if key not in out:
            out[key] = value
        elif key in repeated:
            out[key].append(value)
        else:
            out[key] = [out[key], value]
            repeated.add(key)
    return out


def render(fields: tuple[ProtoField, ...]) -> str:
    """One line in the manner of `protoc --decode_raw`: `1: 150 2: "hi" 3 {1: 2}`."""
    parts = []
    for field in fields:
        value = field.value
        if isinstance(value, tuple):
            parts.append(f"{field.number} {{{render(value)}}}")
        elif isinstance(value, str):
            parts.append(f"{field.number}: {_quote(value)}")
        elif isinstance(value, bytes):
            parts.append(f"{field.number}: 0x{value.hex()}")
        elif field.wire_type == "varint":
            parts.append(f"{field.number}: {value}")
        else:
            size = 8 if field.wire_type == "fixed64" else 4
            parts.append(f"{field.number}: 0x{value:0{size * 2}x}")
    return " ".join(parts)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
