"""The backend of `zmqtui --open FILE`: the live bridge with a recording in place of sockets.

A `PlaybackProcess` (`zmqtui.services.playback`) takes the recording's messages into the same
streams the live monitor's ingest engine keeps, up to the position the user chose; views,
filters, prefixes and export go to it exactly as they go to the live engine. No socket is
opened: requests, stats and control are off (`NO_SOCKETS` says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from zmqtui.captures import RecordingStatus
from zmqtui.config import FeedConfig
from zmqtui.services.ingest import IngestProcess, StreamSpec
from zmqtui.services.playback import PlaybackProcess, RecordingIndex, recorded_feeds
from zmqtui.timeline import Target
from zmqtui.tui.backend import NO_SOCKETS, Endpoints
from zmqtui.tui.bridge import ZmqBridge
from zmqtui.tui.messages import RecordingChanged


class PlaybackBridge(ZmqBridge):
    """Plays `recording` (checked and indexed by `index_recording`) into the monitor's panes.

    Args:
        recording: the file.
        index: its header and receive times.
        decoders: topic prefix -> decoder for its other messages (`[decoders]`).
        ingest_thread: play it on a thread of this process instead of a child process.
    """

    OFF_DETAILS: ClassVar[dict[str, str]] = NO_SOCKETS

    def __init__(
        self,
        recording: Path,
        index: RecordingIndex,
        *,
        decoders: tuple[tuple[str, str], ...] = (),
        ingest_thread: bool = False,
    ) -> None:
        super().__init__(Endpoints(), ingest_thread=ingest_thread, decoders=decoders)
        self.recording = recording
        self.index = index

    def _start_feeds(self) -> None:
        self._start_ingest(recorded_feeds(self.index, self.decoders), observer=True)

    def _ingest_process(
        self, feeds: Sequence[FeedConfig], streams: list[StreamSpec]
    ) -> IngestProcess:
        return PlaybackProcess(
            self.ctx,
            self.recording,
            self.index,
            streams,
            decoders=self.decoders,
            thread=self.ingest_thread,
        )

    def start_recording(self, directory: Path, now: float, compressed: bool) -> None:
        """The file is a recording already: `e` exports what the panes hold."""
        why = "ctrl+r records live feeds; this is a recording already (e exports what is held)"
        self.app.post_message(RecordingChanged(RecordingStatus(0, None, done=True, error=why)))

    def _play(self, *command: object) -> None:
        if self._ingest is not None:
            self._ingest.send(*command)

    def go(self, target: Target) -> None:
        self._play("go", tuple(target))

    def step(self, count: int) -> None:
        self._play("step", count)

    def toggle_play(self) -> None:
        self._play("toggle")

    def change_speed(self, factor: float) -> None:
        self._play("speed", factor)
