"""A request as the composer holds it, a collection saves it and the history keeps it.

Frames are written in the frame syntax of `zmqtui.frames` (`json:{"a": 1}`, `text:hi`,
`hex:00ff`, `@file.bin`), so a saved request reads in a diff as it was typed. The endpoint and
the frames may hold `${name}` variables, filled from a collection's environment when sent.

Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SocketKind = Literal["REQ", "DEALER"]
SOCKET_KINDS: tuple[SocketKind, ...] = ("REQ", "DEALER")


@dataclass(frozen=True, slots=True)
class RequestSpec:
    """What to send, where and how; `name` is how a collection or the history lists it."""

    endpoint: str
    frames: tuple[str, ...]
    socket: SocketKind = "REQ"
    name: str = ""
    timeout_ms: int | None = None
    """How long to wait for a reply; None for the configured default."""

    def matches(self, query: str) -> bool:
        """Whether every word of `query` is in the name, endpoint or frames (any case)."""
        text = "\n".join((self.name, self.endpoint, *self.frames)).casefold()
        return all(word in text for word in query.casefold().split())
