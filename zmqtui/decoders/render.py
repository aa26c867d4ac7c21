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
from zmqtui.text import MULTI_LINE, printable, printable_json

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


def detail_lines(decoded: Decoded) -> list[str]:
    """The frame over several lines for a detail view: indented JSON, one protobuf field per
    line, text as it is (its lines kept), a hex dump with offsets and characters."""
    if decoded.error is not None:
        return [printable(f"✗ {decoded.decoder}: {decoded.error}"), *hex_dump(decoded.frame)]
    if decoded.decoder in ("json", "msgpack"):
        return printable_json(plain(decoded.value), indent=2).splitlines()
    if decoded.decoder == "protobuf":
        return _proto_lines(decoded.value, "")
    if decoded.decoder == "text":
        return printable(decoded.value, keep=MULTI_LINE).splitlines() or [""]
    if decoded.decoder == "hex":
        return hex_dump(decoded.frame)
    return [printable(repr(decoded.frame))]


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


def hex_dump(frame: bytes) -> list[str]:
    """`offset  hex bytes  characters`, 16 bytes a line, like `hexdump -C`."""
    lines = []
    for offset in range(0, len(frame), HEX_LINE_BYTES):
        chunk = frame[offset : offset + HEX_LINE_BYTES]
        chars = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<{HEX_LINE_BYTES * 3 - 1}}  |{chars}|")
    return lines or ["(empty frame)"]
