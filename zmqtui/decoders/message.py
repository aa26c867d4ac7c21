"""A whole message decoded: its topic lifted out, its payload frames each decoded by the decoder
its topic calls for (`[decoders]` overrides by topic prefix), else chosen per frame."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from zmqtui.decoders.frames import AUTO, Decoded, decode_frame, decode_head, parse_decoder_name
from zmqtui.decoders.render import decoded_plain, one_line, plain
from zmqtui.text import printable
from zmqtui.topics import TopicRule, leading_token

_STRUCTURED = frozenset({"json", "msgpack", "protobuf"})
PART_SEPARATOR = " │ "
"""Between the frames of a message shown on one line."""


class DecoderMap:
    """Which decoder reads the payload of a topic: the longest matching prefix wins; topics
    matching none are decoded automatically."""

    def __init__(self, prefixes: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = prefixes.items() if isinstance(prefixes, Mapping) else prefixes
        checked = {prefix: parse_decoder_name(name) for prefix, name in pairs}
        self.prefixes: dict[str, str] = dict(
            sorted(checked.items(), key=lambda pair: len(pair[0]), reverse=True)
        )
        self._encoded = [(p.encode("utf-8"), name) for p, name in self.prefixes.items()]

    def decoder_for(self, topic: bytes | None) -> str:
        """The decoder named for `topic`'s longest matching prefix, else "auto"."""
        key = topic or b""
        for prefix, name in self._encoded:
            if key.startswith(prefix):
                return name
        return AUTO

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DecoderMap) and other.prefixes == self.prefixes

    def __hash__(self) -> int:
        return hash(tuple(self.prefixes.items()))

    def __repr__(self) -> str:
        return f"DecoderMap({self.prefixes!r})"


NO_OVERRIDES = DecoderMap()


@dataclass(frozen=True, slots=True)
class DecodedMessage:
    """A message's topic (None when it has none) and its payload frames, each decoded.

    The payload is the frames after a topic frame, or frame 0 after its leading token (and the
    frames after it), or every frame when there is no topic.
    """

    topic: bytes | None
    parts: tuple[Decoded, ...]

    @property
    def failed(self) -> bool:
        """A decoder the user asked for could not read a frame (the only malformed case)."""
        return any(part.failed for part in self.parts)

    def topic_text(self) -> str:
        """The topic escaped for a terminal ("" when none)."""
        return "" if self.topic is None else topic_text(self.topic)

    def summary(self, limit: int | None = None) -> str:
        """The payload on one line, its frames separated by ` │ `, cut to about `limit`."""
        return PART_SEPARATOR.join(one_line(part, limit) for part in self.parts)

    def values(self) -> list[Any]:
        """The structured payload frames (JSON, msgpack, protobuf) as plain values: what a
        field query looks into."""
        return [
            plain(part.value)
            for part in self.parts
            if part.decoder in _STRUCTURED and not part.failed
        ]

    def to_plain(self) -> dict[str, object]:
        """Topic and frames as JSON can hold them (see `decoded_plain`)."""
        topic = None if self.topic is None else self.topic.decode("utf-8", "backslashreplace")
        return {"topic": topic, "frames": [decoded_plain(part) for part in self.parts]}


def topic_text(topic: bytes) -> str:
    """A topic as the screen shows it (and the filter compares it): escaped for a terminal."""
    return printable(topic.decode("utf-8", "backslashreplace"))


def payload_of(frames: Sequence[bytes], rule: TopicRule = "auto") -> tuple[bytes | None, list]:
    """A message's topic (as `topic_of` reads it) and the frames that carry its payload."""
    if not frames or rule == "none":
        return None, list(frames)
    if rule == "token" or (rule == "auto" and len(frames) == 1):
        token = leading_token(frames[0])
        if token is None:
            return None, list(frames)
        return token, [frames[0][len(token) + 1 :], *frames[1:]]
    if len(frames) > 1:
        return frames[0], list(frames[1:])
    return None, list(frames)


def decode_message(
    frames: Sequence[bytes],
    rule: TopicRule = "auto",
    decoders: DecoderMap = NO_OVERRIDES,
    decoder: str | None = None,
    *,
    head_over: int | None = None,
    skip_over: int | None = None,
) -> DecodedMessage:
    """Decode a message's payload: by `decoder` when given (the user's choice for this
    message), else by the one `decoders` names for its topic, else automatically per frame.

    Args:
        head_over: a payload frame larger than this is not decoded whole, only its first
            `head_over` bytes as text or hex (`decode_head`): enough for a one-line row.
        skip_over: a payload frame larger than this is left out (a field query's bound).
    """
    topic, payload = payload_of(frames, rule)
    name = decoder or decoders.decoder_for(topic)
    if skip_over is not None:
        payload = [frame for frame in payload if len(frame) <= skip_over]
    return DecodedMessage(
        topic,
        tuple(
            decode_head(frame, head_over)
            if head_over is not None and len(frame) > head_over
            else decode_frame(frame, name)
            for frame in payload
        ),
    )
