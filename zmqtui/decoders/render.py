"""Decoded frames as text to show (one line for a list, several for a detail) and as plain
JSON-ready values (for `--json` output and field queries).

Everything returned is already escaped for a terminal (`zmqtui.text.printable`): frames come
from the wire.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import msgpack
import orjson

from zmqtui.decoders import protobuf
from zmqtui.decoders.frames import Decoded
from zmqtui.text import printable, printable_json, printable_json_text

HEX_LINE_BYTES = 16


def plain(value: Any) -> Any:
    """A decoded value as JSON can hold it: bytes as `{"hex": ...}`, msgpack extension types
    as `{"ext": code, "hex": ...}`, timestamps as ns, protobuf fields as a mapping from field
    number to value, keys that are not strings as text."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _key(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, msgpack.ExtType):
        return {"ext": value.code, "hex": value.data.hex()}
    if isinstance(value, msgpack.Timestamp):
        return value.to_unix_nano()
    if isinstance(value, bytes | bytearray | memoryview):
        return {"hex": bytes(value).hex()}
    if isinstance(value, tuple) and all(isinstance(f, protobuf.ProtoField) for f in value):
        return plain(protobuf.to_plain(value))
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    return str(value)


def _key(key: Any) -> str:
    if isinstance(key, bytes):
        return key.decode("utf-8", "backslashreplace")
    return orjson.dumps(plain(key)).decode() if isinstance(key, tuple | list) else str(key)


def decoded_plain(decoded: Decoded) -> dict[str, Any]:
    """One frame for `--json` output: the decoder, its value (text for text, hex for hex,
    base64 for raw) and the error when the decoder asked for failed."""
    out: dict[str, Any] = {"decoder": decoded.decoder}
    if decoded.error is not None:
        out["error"] = decoded.error
        out["hex"] = decoded.frame.hex()
    elif decoded.decoder == "hex":
        out["hex"] = decoded.frame.hex()
    elif decoded.decoder == "raw":
        out["base64"] = base64.b64encode(decoded.frame).decode("ascii")
    else:
        out["value"] = plain(decoded.value)
    return out


def one_line(decoded: Decoded, limit: int | None = None) -> str:
    """The frame on one line, escaped, cut to `limit` characters: compact JSON for JSON and
    msgpack, `protoc --decode_raw` style for protobuf, hex digits for hex, Python's bytes
    notation for raw, `✗ decoder: why` and hex digits for a decoder that failed."""
    if decoded.error is not None:
        text = f"✗ {decoded.decoder}: {decoded.error} {_hex_digits(decoded.frame, limit)}"
    elif decoded.decoder == "json":
        text = _json_text(decoded.value)
    elif decoded.decoder == "msgpack":
        text = compact_json(decoded.value)
    elif decoded.decoder == "protobuf":
        text = protobuf.render(decoded.value)
    elif decoded.decoder == "text":
        text = decoded.value
    elif decoded.decoder == "hex":
        text = _hex_digits(decoded.frame, limit)
    else:
        text = repr(decoded.frame[: limit or None])
    return printable(text, limit=limit)


def _json_text(value: Any) -> str:
    """A value orjson read, written back by orjson (the fast path), else as `compact_json`."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except (TypeError, UnicodeDecodeError):  # a value read by another JSON decoder
        return compact_json(value)


def compact_json(value: Any) -> str:
    """A decoded value as compact JSON, escaped for a terminal."""
    value = plain(value)
    if _finite(value):
        try:
            return printable(orjson.dumps(value).decode("utf-8"))
        except (TypeError, UnicodeDecodeError):  # a lone surrogate, an integer past 64 bits
            pass
    return printable_json(value)


def _finite(value: Any) -> bool:
    """False when a NaN or infinity is anywhere in `value` (orjson would write null)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _hex_digits(frame: bytes, limit: int | None) -> str:
    shown = frame if limit is None else frame[: max(limit // 3, 1)]
    text = shown.hex(" ")
    return text + ("…" if len(shown) < len(frame) else "")


def detail_lines(decoded: Decoded, max_lines: int | None = None) -> list[str]:
    """The frame over several lines for a detail view: indented JSON, one protobuf field per
    line, text as it is (its lines kept), a hex dump with offsets and characters; with
    `max_lines`, only the first lines, and only they are escaped (a frame of megabytes
    costs about what its shown lines do)."""
    if decoded.error is not None:
        dump = hex_dump(decoded.frame, None if max_lines is None else max_lines - 1)
        return [printable(f"✗ {decoded.decoder}: {decoded.error}"), *dump]
    if decoded.decoder in ("json", "msgpack"):
        return _json_lines(decoded, max_lines)
    if decoded.decoder == "protobuf":
        return _proto_lines(decoded.value, "")[:max_lines]
    if decoded.decoder == "text":
        return [printable(line, keep="\t") for line in _head_lines(decoded.value, max_lines)]
    if decoded.decoder == "hex":
        return hex_dump(decoded.frame, max_lines)
    return [printable(repr(decoded.frame))]


def _head_lines(text: str, count: int | None) -> list[str]:
    """The first `count` lines of `text` (only a newline ends one; one ending the text opens
    no empty line), without splitting the rest."""
    lines = text.split("\n", -1 if count is None else count)
    if count is not None and len(lines) > count:
        return lines[:count]
    return lines[:-1] if len(lines) > 1 and not lines[-1] else lines


def _json_lines(decoded: Decoded, max_lines: int | None) -> list[str]:
    """A JSON or msgpack frame as indented JSON, escaped, cut to `max_lines`: written by
    orjson where it can (what orjson read, as it is), and only the lines kept are escaped."""
    text = _indented(decoded.value) if decoded.decoder == "json" else None
    value = None
    if text is None:
        value = plain(decoded.value)
        if _finite(value):
            text = _indented(value)
    if text is None:
        return printable_json(value, indent=2).splitlines()[:max_lines]
    head = text if max_lines is None else "\n".join(text.split("\n", max_lines)[:max_lines])
    return printable_json_text(head).splitlines()


def _indented(value: Any) -> str | None:
    """`value` as JSON indented by orjson, or None where orjson cannot write it (a lone
    surrogate, an integer past 64 bits, a value another decoder made)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8")
    except (TypeError, UnicodeDecodeError):
        return None


def _proto_lines(fields: tuple[protobuf.ProtoField, ...], indent: str) -> list[str]:
    lines = []
    for field in fields:
        if isinstance(field.value, tuple):
            lines.append(f"{indent}{field.number} {{")
            lines += _proto_lines(field.value, indent + "  ")
            lines.append(f"{indent}}}")
        else:
            lines.append(printable(indent + protobuf.render((field,))))
    return lines


def hex_dump(frame: bytes, max_lines: int | None = None) -> list[str]:
    """`offset  hex bytes  characters`, 16 bytes a line, like `hexdump -C` (the first
    `max_lines` lines)."""
    lines = []
    end = len(frame) if max_lines is None else min(len(frame), max_lines * HEX_LINE_BYTES)
    for offset in range(0, end, HEX_LINE_BYTES):
        chunk = frame[offset : offset + HEX_LINE_BYTES]
        chars = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<{HEX_LINE_BYTES * 3 - 1}}  |{chars}|")
    return lines or ["(empty frame)"]
