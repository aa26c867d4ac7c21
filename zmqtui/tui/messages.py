"""Messages the bridge posts to the app: at most one view per stream and frame, never one per
ZeroMQ message.

Messages that carry the latest state (`can_replace`) replace an older one still queued, so a
slow screen skips stale states instead of falling behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from zmqtui.captures import ExportResult, FeedView, RecordingStatus, ViewQuery
from zmqtui.conversations import ConversationsView
from zmqtui.protocol import ChangeEvent, ClusterSnapshot
from zmqtui.results import SendResult, SendSummary
from zmqtui.socket_events import SocketEvent
from zmqtui.timeline import Position
from zmqtui.topicstats import TopicsQuery, TopicsView


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
class FeedViewed(Message):
    """What a pane shows of a stream, as the ingest side answered its query; a newer view of
    the same stream replaces any still queued."""

    view: FeedView

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FeedViewed) and message.view.stream == self.view.stream


@dataclass
class TopicsViewed(Message):
    """The counts per feed and topic, as the ingest side answered the topics view's query; a
    newer answer replaces any still queued."""

    view: TopicsView

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TopicsViewed)


@dataclass
class ExportFinished(Message):
    """An export asked of the ingest side was written, or could not be."""

    result: ExportResult


@dataclass
class RecordingChanged(Message):
    """How far the recording of the feed has got, or that it ended; a newer report of one
    still running replaces any still queued (the last, `done`, is never replaced)."""

    status: RecordingStatus

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RecordingChanged) and not message.status.done


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
    """A `zmqtui.results.RequestResult`."""
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
    """A `zmqtui.results.LoadSummary`."""
    send_id: int | None = None
    """The id of the send that started the run."""


@dataclass
class SendFinished(Message):
    """A message the composer sent (`Backend.send_message`) got its reply, or none."""

    result: SendResult
    send_id: int | None = None


@dataclass
class SendLoadFinished(Message):
    """A message sent `count` times (`Backend.send_message`, count > 1) ended."""

    summary: SendSummary
    send_id: int | None = None


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
class ConversationsViewed(Message):
    """The tap's conversations as the Conversations view asked for them; a newer view replaces
    any still queued."""

    view: ConversationsView

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ConversationsViewed)


@dataclass
class SocketEventsLogged(Message):
    """Connects, disconnects, retries and failed handshakes of the monitor's sockets."""

    events: list[SocketEvent]


@dataclass
class BackendProblem(Message):
    """Something in the backend failed and the user should know; the app keeps running."""

    text: str
    severity: str = "error"


# --- from the panes, for the backend ------------------------------------------------------


@dataclass
class ViewWanted(Message):
    """A pane needs other rows of its stream (it scrolled, resized, paused or followed)."""

    stream: str
    query: ViewQuery


@dataclass
class TopicsWanted(Message):
    """The topics view opened, re-sorted or watches another topic (`query`), or closed (None)."""

    query: TopicsQuery | None


@dataclass
class FilterChanged(Message):
    """The user typed a filter: the stream lists only what matches."""

    stream: str
    expression: str


@dataclass
class ClearWanted(Message):
    """The user asked to forget the messages held (counts stay)."""

    stream: str


@dataclass
class ExportWanted(Message):
    """The user asked to write what the stream holds to a file in `directory`."""

    stream: str
    directory: Path
    now: float


@dataclass
class PlaybackPositioned(Message):
    """Where an opened recording is now (`zmqtui --open`); a newer position replaces any
    still queued."""

    position: Position

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PlaybackPositioned)


@dataclass
class ConversationsWanted(Message):
    """The Conversations view opened or resized (`rows` pairs fit), or closed (0)."""

    rows: int
