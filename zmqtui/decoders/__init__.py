"""Decoders for the frames of any feed: JSON, msgpack, protobuf wire format, text, hex, raw.

Headless (neither zmq nor Textual). Decoding is lazy: nothing here runs until a caller asks for
a message it shows, filters or prints.
"""

from zmqtui.decoders.frames import (
    AUTO,
    CHOICES,
    DECODER_NAMES,
    Decoded,
    DecoderName,
    decode_frame,
    parse_decoder_name,
)
from zmqtui.decoders.message import (
    NO_OVERRIDES,
    DecodedMessage,
    DecoderMap,
    decode_message,
    payload_of,
)
from zmqtui.decoders.render import (
    compact_json,
    decoded_plain,
    detail_lines,
    hex_dump,
    one_line,
    plain,
)

__all__ = [
    "AUTO",
    "CHOICES",
    "DECODER_NAMES",
    "NO_OVERRIDES",
    "Decoded",
    "DecodedMessage",
    "DecoderMap",
    "DecoderName",
    "compact_json",
    "decode_frame",
    "decode_message",
    "decoded_plain",
    "detail_lines",
    "hex_dump",
    "next_choice",
    "one_line",
    "parse_decoder_name",
    "payload_of",
    "plain",
]


def next_choice(current: str) -> str:
    """The decoder after `current` in `CHOICES` (for a key that cycles a message's decoders)."""
    return CHOICES[(CHOICES.index(current) + 1) % len(CHOICES)] if current in CHOICES else AUTO
