"""Captured messages, as the ingest side keeps them and the screen shows them (headless).

A message is its frames (bytes), its receive time in ns and the feed it came from; it is
decoded only for what is shown, filtered or exported. The screen never holds the messages: it
asks the ingest side for a `FeedView` (counters and the rows of a window) with a `ViewQuery`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from zmqtui.decoders import AUTO, NO_OVERRIDES, DecoderMap, decode_message, detail_lines
from zmqtui.feedmeta import DEFAULT_FIELDS, FieldNames, meta_of_parts
from zmqtui.format import MAX_SHOWN_CHARS, printable_frames
from zmqtui.protocol import ChangeEvent, ProtocolError, decode_event
from zmqtui.recording import RecordedFeed, new_recording
from zmqtui.topics import TopicRule

NS_PER_MS = 1_000_000

MAX_DETAIL_LINES = 500
"""The most lines of one frame a message's detail shows."""
LISTED_FRAME_BYTES = 64 * 1024
"""A payload frame larger than this is listed (and searched by a text filter) by its first
bytes as text or hex, never decoded whole for its row: only its detail decodes it whole."""

NOTHING_CAPTURED = "nothing captured yet"
"""Why an export wrote no file when no message is held."""


@dataclass(frozen=True, slots=True)
class FrameDetail:
    """One payload frame of a message as its detail shows it: the decoder that read it, its
    size and its lines (escaped); `failed` when the decoder the user chose could not read it."""

    decoder: str
    size: int
    lines: tuple[str, ...]
    failed: bool = False


@dataclass(slots=True)
class Capture:
    """One message as a SUB socket received it: a change event, or any other message with its
    topic and payload decoded for showing.

    Frames and notes are tuples: the garbage collector stops tracking a tuple of strings.
    """

    frames: tuple[bytes, ...]
    received_ns: int
    """Wall-clock receive time (`time.time_ns()`)."""
    event: ChangeEvent | None = None
    error: str | None = None
    """Why a message that claims to be a change event (a JSON object with `"type":
    "changed"`) is not a valid one."""
    notes: tuple[str, ...] = ()
    """What the sequence tracker saw: a gap in `seq`, a publisher that restarted."""
    feed: str = ""
    """The feed (endpoint) it came from."""
    topic: str | None = None
    """Another message's topic, escaped (None: it has none)."""
    summary: str = ""
    """Another message's payload decoded, on one line, escaped."""
    decoder: str = AUTO
    """The decoder the user chose for this message ("auto": each frame's fitting one)."""
    failed: bool = False
    """The decoder the user chose could not read a frame (the payload is shown as malformed)."""
    parts: tuple[FrameDetail, ...] = ()
    """Each payload frame decoded whole: only for the message whose detail is shown."""
    sent_ns: int | None = None
    """When another message says it was sent (its timestamp field, `zmqtui.feedmeta`)."""
    seq: int | None = None
    """Another message's sequence number (its `seq` field), if it has one."""

    @property
    def other(self) -> bool:
        """Neither a change event nor a message claiming to be one."""
        return self.event is None and self.error is None

    @property
    def received_ms(self) -> int:
        return self.received_ns // NS_PER_MS

    @property
    def lag_ms(self) -> int | None:
        """Receive time minus the event's own timestamp, or another message's send time."""
        if self.event is not None:
            return self.received_ms - self.event.timestamp
        return None if self.sent_ns is None else (self.received_ns - self.sent_ns) // NS_PER_MS


def claims_to_be_event(frames: Sequence[bytes], decoder: str = AUTO) -> bool:
    """A single JSON object with `"type": "changed"`: the book's change event, or a malformed
    one (shown as such).

    Args:
        decoder: the decoder that reads the message: any but "auto" or "json" reads it as
            another message (`zmqtui subscribe --decoder hex` prints an event's bytes).
    """
    if decoder not in (AUTO, "json"):
        return False
    if len(frames) != 1 or len(frames[0]) > LISTED_FRAME_BYTES:
        return False  # change events are small: a large frame is not read whole to tell
    if frames[0].lstrip()[:1] != b"{":
        return False
    try:
        value = orjson.loads(frames[0])
    except orjson.JSONDecodeError:
        return False
    return isinstance(value, dict) and value.get("type") == "changed"


def event_capture(
    frames: tuple[bytes, ...], received_ns: int, notes: tuple[str, ...] = (), feed: str = ""
) -> Capture:
    """A message read as the book's change event: with the event, or with why it is not a
    valid one (`error`); never raises."""
    try:
        return Capture(frames, received_ns, decode_event(list(frames)), None, notes, feed)
    except ProtocolError as exc:
        return Capture(frames, received_ns, None, exc.message, notes, feed)


def decoded_capture(
    frames: tuple[bytes, ...],
    received_ns: int,
    notes: tuple[str, ...] = (),
    feed: str = "",
    *,
    is_event: bool = False,
    decoder: str = AUTO,
    decoders: DecoderMap = NO_OVERRIDES,
    rule: TopicRule = "auto",
    fields: FieldNames = DEFAULT_FIELDS,
    detail: bool = False,
) -> Capture:
    """A message decoded for showing: a change event (`is_event`, as the ingest found it) as
    one, a message claiming to be one and not valid as a ✗ with the reason, any other message
    as its topic (where `rule` finds it) and payload read by `decoder` ("auto": the one
    `decoders` names for its topic, else each frame by the first that fits), with each frame's
    lines when `detail`, and the send time and `seq` its `fields` give."""
    if is_event or claims_to_be_event(frames):
        return event_capture(frames, received_ns, notes, feed)
    message = decode_message(
        frames,
        rule,
        decoders,
        None if decoder == AUTO else decoder,
        head_over=None if detail else LISTED_FRAME_BYTES,
    )
    meta = meta_of_parts(message.parts, fields)
    parts: tuple[FrameDetail, ...] = ()
    if detail:
        parts = tuple(
            FrameDetail(
                part.decoder,
                len(part.frame),
                tuple(detail_lines(part, MAX_DETAIL_LINES)),
                part.failed,
            )
            for part in message.parts
        )
    return Capture(
        frames,
        received_ns,
        notes=notes,
        feed=feed,
        topic=None if message.topic is None else message.topic_text(),
        summary=message.summary(limit=MAX_SHOWN_CHARS),
        decoder=decoder,
        failed=message.failed,
        parts=parts,
        sent_ns=meta.sent_ns,
        seq=meta.seq,
    )


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """The part of a stream's list the screen shows: `count` rows from absolute index `start`
    (None: the newest), the selected row (absolute index) whose detail it shows (None: the
    newest, while following), and the decoders the user chose for some rows (absolute index,
    decoder name)."""

    start: int | None = None
    count: int = 50
    selected: int | None = None
    decoders: tuple[tuple[int, str], ...] = ()


FeedState = Literal["connecting", "connected", "retrying", "disconnected", "failed", "recorded"]
"""Where a feed's SUB socket stands, as its socket monitor tells; "recorded" for a feed played
from a recording (`zmqtui --open`), which has no socket."""


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """One feed of a stream, as the screen shows it beside the others."""

    name: str
    endpoint: str
    state: FeedState = "connecting"
    detail: str = ""
    received: int = 0
    """Messages the feed's socket took in (every stream's, before prefixes)."""
    given_up: int = 0
    """Connections libzmq ended for good and the feed made again: each was a message over
    `max_message_bytes` (or a peer that broke the protocol)."""
    max_message_bytes: int = 0


@dataclass(slots=True)
class FeedView:
    """What a pane shows of one stream, at one moment: counters and a window of its list.

    Rows are numbered absolutely: `first` is the oldest held, `appended` the number ever listed
    (so `appended - first` are held); `rows[i]` is row `rows_start + i`.
    """

    stream: str
    received: int = 0
    """Messages the stream took in, exact."""
    first: int = 0
    appended: int = 0
    rows_start: int = 0
    rows: list[Capture] = field(default_factory=list)
    selected: Capture | None = None
    """The selected row (or, following, the newest) with its frames' detail."""
    selected_index: int | None = None
    shown: int = 0
    """Messages taken in that pass the filter (see `shown_at_least`)."""
    shown_at_least: bool = False
    """After a filter change older messages were no longer held: `shown` is a lower bound."""
    not_events: int = 0
    """Messages that are not change events (any other message of the feed)."""
    alerts: int = 0
    last_lag_ms: int | None = None
    max_lag_ms: int | None = None
    dropped: int = 0
    """Events the publisher sent that never arrived, from `seq` gaps."""
    behind_s: float = 0.0
    """How long the ingest has had messages waiting without pause (it cannot keep up)."""
    generation: int = 0
    """Changes with every message or command: equal generations show the same thing."""
    feeds: tuple[FeedStatus, ...] = ()
    """The feeds the stream lists, in the order given (rows name theirs when there are
    several)."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote (or why it could not)."""

    path: Path | None
    written: int
    received: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RecordingStatus:
    """How far a recording the ingest side writes has got (the monitor's record key): sent a
    few times a second while it runs, and once more when it ends (`done`)."""

    record_id: int
    path: Path | None
    """The file (None: it could not be made, `error` says why)."""
    messages: int = 0
    file_bytes: int = 0
    """The file's size on disk (compressed, for `.zst`)."""
    done: bool = False
    error: str | None = None
    """Why recording could not start or stopped early (what was written before is kept)."""


def searchable_text(capture: Capture) -> str:
    """What a text or regex filter (`zmqtui.feedfilter`) looks at: path, kind, destination and
    notes; another message's topic and decoded payload as its row shows them; a malformed
    event's escaped frames as its row shows them (`MAX_SHOWN_CHARS` of each)."""
    event = capture.event
    if capture.other:
        return capture.summary if capture.topic is None else f"{capture.topic} {capture.summary}"
    if event is None:
        return printable_frames(capture.frames)  # as its row shows them, cut
    parts = [event.file, event.event or event.type]
    if event.dest:
        parts.append(event.dest)
    parts.extend(capture.notes)
    return " ".join(parts)


def export_recording(
    messages: Sequence[tuple[int, str, Sequence[bytes]]],
    feeds: Sequence[RecordedFeed],
    directory: Path,
    now: float,
) -> Path:
    """Write messages (receive time in ns, feed name, frames) of `feeds` as a recording
    (`zmqtui.recording`) to a new `zmqtui-capture-<time>.jsonl` in `directory`, whole or not
    at all: so an export opens in `zmqtui replay`, `zmqtui diff` and `zmqtui --open`."""
    start_ns = messages[0][0] if messages else None
    writer = new_recording(directory, "zmqtui-capture", now, feeds, start_ns=start_ns)
    try:
        with writer:
            writer.write_batch(messages)
    except OSError:  # e.g. the disk filled: leave no partial file behind
        writer.path.unlink(missing_ok=True)
        raise
    return writer.path
