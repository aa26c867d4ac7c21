"""What topic a message of any feed is on.

ZeroMQ feeds put their topic in one of two places: frame 0 of a multipart message
(`[b"md.AAPL", payload]`), or the leading word of a single frame (the ZeroMQ guide's weather
feed sends `b"10001 23 45"`). A feed's *topic rule* says which one to read:

- `auto` (the default): frame 0 of a multipart message, the leading token of a single frame;
- `frame0`: frame 0 of a multipart message, none for a single frame;
- `token`: the leading token of frame 0, whatever the number of frames;
- `none`: no topic.

Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

TopicRule = Literal["auto", "frame0", "token", "none"]
TOPIC_RULES: tuple[TopicRule, ...] = get_args(TopicRule)

MAX_TOKEN_BYTES = 32
"""The longest leading word taken for a topic; a longer one is payload, not a topic."""

_TOKEN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-:/")
"""What a topic word is made of: letters, digits and the separators topics use (`md.AAPL`,
`sensor/7`, `log:warn`); a frame starting with `{"type":` or `[1,` starts with a payload."""


def topic_of(frames: Sequence[bytes], rule: TopicRule = "auto") -> bytes | None:
    """The topic of a message under `rule`, or None when it has none."""
    if not frames or rule == "none":
        return None
    if rule == "token" or (rule == "auto" and len(frames) == 1):
        return leading_token(frames[0])
    return frames[0] if len(frames) > 1 else None


def leading_token(frame: bytes) -> bytes | None:
    """The short word `frame` starts with when a space follows it, else None."""
    space = frame.find(b" ", 0, MAX_TOKEN_BYTES + 1)
    if space <= 0:
        return None
    token = frame[:space]
    return token if _TOKEN_BYTES.issuperset(token) else None


def parse_topic_rule(value: str) -> TopicRule:
    """A topic rule named in a setting, or ValueError naming the rules there are."""
    if value not in TOPIC_RULES:
        raise ValueError(f"topic rule must be one of {', '.join(TOPIC_RULES)}, not {value!r}")
    return value  # type: ignore[return-value]
