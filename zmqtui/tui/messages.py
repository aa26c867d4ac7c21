"""Messages the bridge posts to the app: one per drained batch, never one per ZeroMQ message.

Messages that carry the latest state (`can_replace`) replace an older one still queued, so a
slow screen skips stale states instead of falling behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from zmqtui.protocol import ChangeEvent, ClusterSnapshot


@dataclass(slots=True)
class Capture:
    """One message as a SUB socket received it, decoded when it is a change event.

    Like `zmqtui.services.subscriber.Received`, plus what the sequence tracker noted. Frames
    and notes are tuples: the garbage collector stops tracking a tuple of strings, and the
    panes hold tens of thousands of captures, which every full collection would walk.
    """

    frames: tuple[bytes, ...]
    received_ms: int
    event: ChangeEvent | None = None
    error: str | None = None
    """Why the frames are not a change event (not JSON, binary, several frames...)."""
    notes: tuple[str, ...] = ()
    """What the sequence tracker saw: a gap in `seq`, a publisher that restarted."""

    @property
    def lag_ms(self) -> int | None:
        """Receive time minus the event's own timestamp."""
        return None if self.event is None else self.received_ms - self.event.timestamp


@dataclass
class EventsPublished(Message):
    """Events the embedded publisher sent since the last message."""

    events: list[ChangeEvent]


@dataclass
class PublisherStatus(Message):
    """The embedded publisher's counters; a newer status replaces any still queued."""

    published: int
    subscribers: int
    subscriptions: dict[bytes, int]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PublisherStatus)


@dataclass
class CapturesReceived(Message):
    """A batch from a SUB socket: `stream` is "sub" (the subscriber pane's socket) or
    "observer" (the publisher pane's socket when attached to someone else's publisher)."""

    stream: str
    captures: list[Capture]
    on_handled: Callable[[], None] | None = None
    """Call once the batch is shown: the bridge reads more only when batches get handled."""


@dataclass
class SnapshotReceived(Message):
    """The cluster's latest stats; a newer one replaces any still queued."""

    snapshot: ClusterSnapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReceived)


@dataclass
class ConnectionChanged(Message):
    """A socket's connection state changed.

    `state` is one of: bound, connecting, connected, retrying, disconnected, failed, off.
    """

    socket: str
    """pub, sub, req, stats or control."""
    state: str
    endpoint: str | None
    detail: str = ""


@dataclass
class RequestFinished(Message):
    """A single request got its reply, an error reply, or none (`result.error`)."""

    result: Any
    """A `zmqtui.services.requester.RequestResult`."""
    send_id: int | None = None
    """The id of the send it answers (`ComposerPane.SendRequested.send_id`)."""


@dataclass
class LoadProgressed(Message):
    """`done` of `total` requests of load run `send_id` have finished; newer progress of the
    same run replaces older."""

    done: int
    total: int
    send_id: int | None = None

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LoadProgressed) and message.send_id == self.send_id


@dataclass
class SendFailed(Message):
    """A send could not run to its end (no endpoint, something broke, or the user cancelled
    it): no outcome comes."""

    path: str
    count: int
    reason: str
    send_id: int | None = None
    cancelled: bool = False


@dataclass
class LoadFinished(Message):
    """A load run (count > 1) ended."""

    summary: Any
    """A `zmqtui.services.requester.LoadSummary`."""
    send_id: int | None = None
    """The id of the send that started the run."""


@dataclass
class ControlAnswered(Message):
    """The cluster answered a control command (`reply["ok"]` says whether it worked)."""

    command: str
    reply: dict[str, Any]


@dataclass
class ClusterExited(Message):
    """The embedded cluster's process ended on its own (it is restarted only when asked)."""

    code: int
    how: str
    """The exit said the way `zmqtui ctl list` says it: "exit code 3", "killed by SIGKILL"."""
    log_tail: str
    """Its last lines of output, which usually say why."""


@dataclass
class BackendProblem(Message):
    """Something in the backend failed and the user should know; the app keeps running."""

    text: str
    severity: str = "error"
