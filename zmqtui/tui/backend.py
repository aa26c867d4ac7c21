"""What the app asks of its backend, and where it connects: the contract, without zmq.

The app and the test backends depend on this module; `zmqtui.tui.bridge.ZmqBridge` is the real
backend, the only part of the monitor that imports zmq.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from textual.app import App

from zmqtui.captures import ViewQuery
from zmqtui.request_spec import RequestSpec
from zmqtui.timeline import Target
from zmqtui.topicstats import TopicsQuery

SOCKET_NAMES = ("pub", "sub", "req", "stats", "control")
"""Sockets the status bar shows: the publisher (embedded XPUB or attached SUB), the
subscriber pane's SUB, and the request, stats and control endpoints."""

ENDPOINT_OPTIONS = {
    "pub": "--sub",
    "sub": "--sub",
    "req": "--req",
    "stats": "--stats",
    "control": "--control",
}
"""The monitor's option that gives each socket its endpoint, for a socket left without one."""

GOOD_STATES = frozenset({"bound", "connected", "recorded"})
"""Connection states in which a socket works (`recorded`: a recording's feed, `--open`)."""

STREAMS = ("observer", "sub")
"""What the ingest side lists: the publisher pane's stream when attached (everything the
publisher sends), and the subscriber pane's (what its prefixes select)."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the app connects; None for an endpoint it was not given (attach mode)."""

    pub: str | None = None
    req: str | None = None
    stats: str | None = None
    control: str | None = None
    tap: str | None = None
    """A tap's capture side (`zmqtui tap --pairs`), for the Conversations view."""


class Backend(Protocol):
    """What the app asks of its backend; `ZmqBridge` is the real one, tests script others.

    Messages are taken in on the backend's side. A pane asks for what it shows with `view`
    (at most once per frame); the answer comes as a `FeedViewed` message.
    """

    embedded: bool
    endpoints: Endpoints
    watch_path: Path | None

    def start(self, app: App) -> None:
        """Begin: open sockets and post messages to `app`."""

    async def stop(self) -> None:
        """End every socket and worker; called as the app closes."""

    def view(self, stream: str, query: ViewQuery) -> None:
        """Ask for a stream's counters and rows (see `STREAMS`): a `FeedViewed` answers, now
        and again whenever the stream changes, until another query replaces this one."""

    def topics(self, query: TopicsQuery | None) -> None:
        """Ask for the counts per feed and topic: a `TopicsViewed` answers, now and a few times
        a second while `query` stands (they change with every message); None stops asking."""

    def set_prefixes(self, prefixes: Sequence[str]) -> None:
        """Change what the subscriber pane's stream subscribes to."""

    def observe_feed(self, feed: str) -> None:
        """Attached: the publisher pane's stream lists the feed named `feed` from now on (its
        list and count started again), and its frame shows that feed's endpoint and state."""

    def set_filter(self, stream: str, expression: str) -> None:
        """List only the messages matching `expression` (text or `/regex/`)."""

    def clear(self, stream: str) -> None:
        """Forget the messages held (counts stay)."""

    def export(self, stream: str, directory: Path, now: float) -> None:
        """Write what the stream holds to a JSON Lines file: an `ExportFinished` answers."""

    def start_recording(self, directory: Path, now: float, compressed: bool) -> None:
        """Record every message of the feed to a new file in `directory` until
        `stop_recording`: `RecordingChanged` messages say how far it has got, and when it
        ended."""

    def stop_recording(self) -> None:
        """End the recording: a last `RecordingChanged` (`done`) says what the file holds."""

    def publish(self, file: str, event: str, dest: str | None = None) -> None:
        """Publish an event by hand (embedded publisher only); `dest` is where a move went."""

    def send_request(
        self, path: str, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        """Request `path` once, or `count` times with `concurrency` in flight; the outcome and
        progress messages carry `send_id`."""

    def send_message(
        self, spec: RequestSpec, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        """Send `spec`'s frames once, or `count` times with `concurrency` in flight, over its
        socket kind to its endpoint (empty: the request endpoint); `SendFinished` or
        `SendLoadFinished` answers, `LoadProgressed` on the way, each with `send_id`."""

    def cancel_send(self, send_id: int) -> None:
        """Stop the send `send_id` if it is still in flight; it ends as failed, "cancelled"."""

    def control(self, command: str, **args: int) -> None:
        """Send a control command to the cluster (kill, restart, scale...)."""

    def restart_cluster(self) -> None:
        """Start the embedded cluster again after it died (embedded mode only)."""

    def view_conversations(self, rows: int) -> None:
        """Ask for the tap's conversations, the latest `rows` pairs listed: a
        `ConversationsViewed` answers once per frame while they change; 0 stops asking."""


NO_SOCKETS = {
    "req": "a recording has no service to ask: requests need a live monitor (--req)",
    "stats": "a recording has no cluster: its workers show in a live monitor (--stats)",
}
"""Why a recording's panes that need live sockets show nothing: the detail of those sockets'
"off" state under a `PlaybackBackend` (their panes are hidden)."""


class PlaybackBackend(Backend, Protocol):
    """A backend that plays a recording (`zmqtui --open`): its messages reach the streams up
    to a time position, reported as `PlaybackPositioned` messages. The sockets of `NO_SOCKETS`
    are "off" with that detail."""

    recording: Path

    def go(self, target: Target) -> None:
        """Go to a time or a message number."""

    def step(self, count: int) -> None:
        """Pause and move `count` messages on (back when negative)."""

    def toggle_play(self) -> None:
        """Play from the position, or pause."""

    def change_speed(self, factor: float) -> None:
        """Play at the speed times `factor` (halved, doubled)."""
