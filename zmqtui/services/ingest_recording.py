"""The recording the ingest engine writes while it takes messages in (the monitor's record key).

Written on the ingest side, as each message arrives, so it costs the screen nothing and sees
every message of the feed, frames exactly, whatever a pane's prefixes or filter select; the
screen only hears how far it has got, a few times a second. Each report flushes what was
written to the file, so a monitor that is killed loses at most the last fraction of a second.
A write that fails (the disk filled) ends the recording and says why; what was written is kept.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from zmqtui.captures import RecordingStatus
from zmqtui.recording import RecordingWriter

REPORT_INTERVAL_S = 0.25
"""How often the screen hears how far the recording has got (and the file is flushed)."""


class IngestRecording:
    """One recording in progress: `write` each message, `report` when `due`, then `finish`."""

    def __init__(self, writer: RecordingWriter, record_id: int) -> None:
        self.writer = writer
        self.record_id = record_id
        self.error: str | None = None
        self._next_report = time.monotonic() + REPORT_INTERVAL_S

    def write(self, received_ns: int, feed: str, frames: Sequence[bytes]) -> None:
        if self.error is None:
            try:
                self.writer.write(received_ns, feed, frames)
            except OSError as exc:
                self._failed(exc)

    def due(self) -> bool:
        """Time to report, or a write failed."""
        return self.error is not None or time.monotonic() >= self._next_report

    def report(self) -> RecordingStatus:
        """How far it has got, once what was written is flushed to the file."""
        self._next_report = time.monotonic() + REPORT_INTERVAL_S
        if self.error is None:
            try:
                self.writer.flush()
            except OSError as exc:
                self._failed(exc)
        return self._status(done=False)

    def finish(self) -> RecordingStatus:
        """Close the file (a compressed one gets its end) and say what it holds."""
        try:
            self.writer.close()
        except OSError as exc:
            self._failed(exc)
        return self._status(done=True)

    def _failed(self, exc: OSError) -> None:
        if self.error is None:
            self.error = f"writing {self.writer.path} failed: {exc.strerror or exc}"

    def _status(self, *, done: bool) -> RecordingStatus:
        try:
            size = self.writer.file_bytes
        except OSError:
            size = 0
        return RecordingStatus(
            self.record_id, self.writer.path, self.writer.messages, size, done, self.error
        )
