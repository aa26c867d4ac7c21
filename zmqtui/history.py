"""The requests sent from the monitor and `zmqtui send`, and how they ended, kept across runs.

One JSON object a line in `$XDG_STATE_HOME/zmqtui/history.jsonl` (by default under
`~/.local/state`), oldest first. Several monitors may write at once: each append and each
compaction happens under an exclusive `flock` of a lock file beside it, and the file is only
ever appended to or replaced whole, so a reader sees every line whole. It is bounded by size,
so that an append never reads it: once it is over `max_bytes`, the append rewrites it with the
newest `limit` records that fit in half of that. A line that cannot be read (cut by a crash,
edited by hand) is skipped, never a reason to lose the others.

Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zmqtui.files import replace_file
from zmqtui.format import plural
from zmqtui.frames import format_frame
from zmqtui.protocol import ErrorReply
from zmqtui.request_spec import SOCKET_KINDS, RequestSpec
from zmqtui.results import LoadFigures, RequestResult, SendResult, error_code
from zmqtui.text import printable

HISTORY_FILE = "history.jsonl"
MAX_RECORDS = 500
"""Records kept: the newest."""
MAX_LINE_BYTES = 256 * 1024
"""A record longer than this (a huge frame typed in) is not kept: the file stays quick to read."""
MAX_FILE_BYTES = 2 * 1024 * 1024
"""The file's size past which an append trims it (to the newest records in half of it)."""
FORMAT_VERSION = 1
MAX_SUMMARY = 200
"""Characters of a reply kept in its record: enough to recognise it in the list."""


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """A request as it was sent (variables filled) and how it ended."""

    spec: RequestSpec
    sent_ms: int
    """When it was sent, in milliseconds since the epoch."""
    reply: str | None = None
    """A one-line summary of the reply (None: no reply)."""
    latency_ms: float | None = None
    error: str | None = None
    """Why it failed: an error reply's code, no reply, a send that broke (None: it did not)."""
    environment: str | None = None
    """The collection environment its variables came from."""
    count: int = 1
    concurrency: int = 1
    """A load run's requests and how many of them were in flight at once."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_wire(self) -> dict[str, Any]:
        """The record as one JSON object of the history file."""
        wire: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "sent_ms": self.sent_ms,
            "name": self.spec.name,
            "endpoint": self.spec.endpoint,
            "socket": self.spec.socket,
            "timeout_ms": self.spec.timeout_ms,
            "frames": list(self.spec.frames),
            "reply": self.reply,
            "latency_ms": self.latency_ms,
            "error": self.error,
            "environment": self.environment,
            "count": None if self.count == 1 else self.count,
            "concurrency": None if self.concurrency == 1 else self.concurrency,
        }
        return {key: value for key, value in wire.items() if value is not None}

    @classmethod
    def from_wire(cls, wire: Mapping[str, Any]) -> HistoryRecord:
        """A record from one line's object; `ValueError` when it is not one."""
        frames = wire.get("frames")
        if not isinstance(frames, list) or not all(isinstance(f, str) for f in frames):
            raise ValueError("frames must be a list of strings")
        socket = wire.get("socket", "REQ")
        if socket not in SOCKET_KINDS:
            raise ValueError(f"unknown socket {socket!r}")
        spec = RequestSpec(
            endpoint=_typed(wire, "endpoint", str, required=True),
            frames=tuple(frames),
            socket=socket,
            name=_typed(wire, "name", str) or "",
            timeout_ms=_typed(wire, "timeout_ms", int),
        )
        latency = _typed(wire, "latency_ms", (int, float))
        return cls(
            spec=spec,
            sent_ms=_typed(wire, "sent_ms", int, required=True),
            reply=_typed(wire, "reply", str),
            latency_ms=None if latency is None else float(latency),
            error=_typed(wire, "error", str),
            environment=_typed(wire, "environment", str),
            count=_typed(wire, "count", int) or 1,
            concurrency=_typed(wire, "concurrency", int) or 1,
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a send ended, as a history record keeps it (see `HistoryRecord`)."""

    reply: str | None = None
    latency_ms: float | None = None
    error: str | None = None


def reply_summary(frames: Sequence[bytes]) -> str:
    """A reply's frames on one line in the frame syntax, as `zmqtui send` prints them."""
    return printable(
        " │ ".join(format_frame(f, limit=MAX_SUMMARY) for f in frames), limit=MAX_SUMMARY
    )


def send_outcome(result: SendResult) -> Outcome:
    """A message's reply (an error reply's code as the error), or why none came."""
    if result.reply is None:
        tries = plural(result.tries, "try", "tries")
        return Outcome(
            None, result.latency_ms, result.handshake_failure or f"no reply after {tries}"
        )
    code = error_code(result.reply)
    error = None if code is None else f"error {code}"
    return Outcome(reply_summary(result.reply), result.latency_ms, error)


def file_request_outcome(result: RequestResult) -> Outcome:
    """The book's file request: the reply as it came, an error reply's code, or why none came."""
    reply = None if result.raw is None else reply_summary([result.raw])
    if result.reply is None or result.error is not None:
        return Outcome(reply, result.latency_ms, result.error or "no reply")
    error = f"error {result.reply.code}" if isinstance(result.reply, ErrorReply) else None
    return Outcome(reply, result.latency_ms, error)


def failure_outcome(reason: str) -> Outcome:
    """A send that could not go, or was cancelled."""
    return Outcome(error=reason)


def load_outcome(figures: LoadFigures) -> Outcome:
    """A load run: how many were answered and how fast, the median latency, and how many failed."""
    failed = sum(figures.errors_by_code.values()) + figures.unavailable + figures.not_sent
    reply = f"{figures.answered:,}/{figures.count:,} answered, {figures.rate:,.0f}/s"
    error = f"{failed:,} of {figures.count:,} failed" if failed else None
    return Outcome(reply, figures.percentile(50), error)


def _typed(wire: Mapping[str, Any], key: str, kind: Any, *, required: bool = False) -> Any:
    value = wire.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"{key} has the wrong type")
    return value


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_STATE_HOME/zmqtui`, by default `~/.local/state/zmqtui`."""
    environ = os.environ if environ is None else environ
    state_home = environ.get("XDG_STATE_HOME") or Path(environ.get("HOME", "~")) / ".local/state"
    return Path(state_home).expanduser() / "zmqtui"


class History:
    """The history file: appended to by any number of monitors, read newest first.

    Args:
        path: The file (default: `history.jsonl` in `state_dir()`).
        limit: Records kept.
        max_bytes: The file's size past which an append trims it.
    """

    def __init__(
        self, path: Path | None = None, *, limit: int = MAX_RECORDS, max_bytes: int = MAX_FILE_BYTES
    ) -> None:
        self.path = path or state_dir() / HISTORY_FILE
        self.limit = limit
        self.max_bytes = max(max_bytes, 2 * MAX_LINE_BYTES)
        """At least two of the longest records: a trim always keeps the newest."""
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def load(self) -> list[HistoryRecord]:
        """The newest `limit` records, newest first (none when there is no file yet)."""
        if not self.path.exists():
            return []
        with self._locked(fcntl.LOCK_SH):
            lines = self._lines()
        return list(itertools.islice(_records(reversed(lines)), self.limit))

    def append(self, record: HistoryRecord) -> bool:
        """Add `record`; False when it is too long to keep."""
        line = json.dumps(record.to_wire(), ensure_ascii=True, separators=(",", ":")) + "\n"
        data = line.encode("ascii")
        if len(data) > MAX_LINE_BYTES:
            return False
        with self._locked(fcntl.LOCK_EX):
            handle = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(handle).st_size
                if size and os.pread(handle, 1, size - 1) != b"\n":
                    data = b"\n" + data  # a line cut short by a crash stays apart
                os.write(handle, data)
                size = os.fstat(handle).st_size
            finally:
                os.close(handle)
            if size > self.max_bytes:
                self._trim()
        return True

    def _trim(self) -> None:
        """Keep the newest `limit` lines that fit in half of `max_bytes`."""
        kept: list[bytes] = []
        room = self.max_bytes // 2
        for line in reversed(self._lines()):
            room -= len(line)
            if room < 0 or len(kept) == self.limit:
                break
            kept.append(line)
        replace_file(self.path, b"".join(reversed(kept)))

    def _lines(self) -> list[bytes]:
        try:
            with self.path.open("rb") as file:
                return [line for line in file if line.endswith(b"\n")]
        except FileNotFoundError:
            return []

    @contextlib.contextmanager
    def _locked(self, operation: int) -> Iterator[None]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(handle, operation)
            yield
        finally:
            os.close(handle)


def _records(lines: Iterable[bytes]) -> Iterator[HistoryRecord]:
    for line in lines:
        try:
            wire = json.loads(line)
            if isinstance(wire, dict):
                yield HistoryRecord.from_wire(wire)
        except ValueError:
            continue
