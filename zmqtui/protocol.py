"""Messages on the wire: build, encode, decode and validate. No sockets here.

Every message is UTF-8 JSON in a single frame, exactly as the Node.js scripts of
*Node.js the Right Way* send them, so our services and theirs talk to each other.
Decoders never raise anything but `ProtocolError`, whatever bytes they are given.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

MAX_MESSAGE_BYTES = 64 * 1024
"""Inbound size limit for requests and events, also set as `MAXMSGSIZE` on sockets."""


def max_reply_bytes(max_file_bytes: int) -> int:
    """Largest reply to a request for a file of up to `max_file_bytes`: JSON escapes a control
    character in six bytes (`\\u0001`), plus room for the rest of the reply."""
    return 6 * max_file_bytes + MAX_MESSAGE_BYTES


MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024
"""Largest stats snapshot a monitor accepts: a cluster of 256 workers sends about 70 KB."""

MAX_PATH_CHARS = 4096
"""Longest path a request may carry (PATH_MAX on Linux)."""

MAX_ID_CHARS = 128
"""Longest request id a reply will echo."""


def now_ms() -> int:
    """Milliseconds since the epoch, like JavaScript's `Date.now()`."""
    return time.time_ns() // 1_000_000


class ErrorCode(StrEnum):
    """Stable codes of error replies; clients may switch on them."""

    BAD_JSON = "BAD_JSON"
    BAD_REQUEST = "BAD_REQUEST"
    OUTSIDE_ROOT = "OUTSIDE_ROOT"
    NOT_FOUND = "NOT_FOUND"
    NOT_A_FILE = "NOT_A_FILE"
    TOO_LARGE = "TOO_LARGE"
    NOT_TEXT = "NOT_TEXT"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INTERNAL = "INTERNAL"


class ProtocolError(Exception):
    """A message that cannot be accepted, with the code its error reply carries."""

    def __init__(self, code: ErrorCode, message: str, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id


def encode_json(obj: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON.

    A string that is not valid Unicode (a file name's undecodable bytes come through
    `os.fsdecode` as lone surrogates) is sent as `\\udcxx` escapes, still valid JSON.
    """
    if not _holds_float(obj, _is_non_finite):  # orjson writes inf and NaN as null
        try:
            return orjson.dumps(obj)
        except TypeError:  # a lone surrogate, a key that is not a string, an integer over 64 bits
            pass
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


def decode_json_object(
    frames: list[bytes], *, max_bytes: int | None = MAX_MESSAGE_BYTES
) -> dict[str, Any]:
    """The single JSON object a one-frame message carries, or `ProtocolError`.

    `max_bytes`: the largest message accepted; None leaves the bound to the receiving socket.
    """
    if len(frames) != 1:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"expected one frame, got {len(frames)}")
    data = frames[0]
    if max_bytes is not None and len(data) > max_bytes:
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"message of {len(data)} bytes exceeds {max_bytes}"
        )
    try:
        obj = loads_json(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"expected a JSON object, got {type(obj).__name__}"
        )
    return obj


def loads_json(data: bytes) -> Any:
    """`json.loads(data.decode("utf-8"))`, several times faster for what `orjson` reads the
    same way: `json` answers what `orjson` refuses (NaN, a lone surrogate escape) or reads
    otherwise (an integer beyond 64 bits, which `orjson` turns into a float)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    else:
        if not _holds_float(obj, _may_be_a_long_integer):
            return obj
    return json.loads(data.decode("utf-8"))


def _is_non_finite(value: float) -> bool:
    return value != value or value in (math.inf, -math.inf)


def _may_be_a_long_integer(value: float) -> bool:
    """orjson reads an integer literal beyond 64 bits as a float; `json` keeps it an int."""
    return abs(value) >= 2.0**63


def _holds_float(obj: Any, test: Callable[[float], bool]) -> bool:
    """Whether a float passing `test` is anywhere in a decoded JSON value."""
    if type(obj) is float:
        return test(obj)
    if isinstance(obj, dict):
        obj = obj.values()
    elif not isinstance(obj, list):
        return False
    # a loop, not any() over a generator, which costs twice as much per request
    for value in obj:  # noqa: SIM110
        if _holds_float(value, test):
            return True
    return False


def _is_clean_text(value: str) -> bool:
    """False for strings with NUL bytes or lone surrogates, which no file name holds."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _optional_id(obj: dict[str, Any]) -> str | None:
    request_id = obj.get("id")
    if request_id is None:
        return None
    if isinstance(request_id, (int, float)) and not isinstance(request_id, bool):
        request_id = str(request_id)
    if (
        not isinstance(request_id, str)
        or len(request_id) > MAX_ID_CHARS
        or not _is_clean_text(request_id)
    ):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "id must be a short string")
    return request_id


# --- change events (watcher PUB) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """A file changed: `{"type": "changed", "file": PATH, "timestamp": MS}` plus extras."""

    file: str
    timestamp: int
    event: str | None = None
    """created, modified, deleted or moved; absent from the book's publisher."""
    seq: int | None = None
    """Per-publisher counter so subscribers can see gaps."""
    publisher: str | None = None
    """Identifies one run of a publisher; a new value means it restarted."""
    pid: int | None = None
    dest: str | None = None
    """The new path of a moved file."""
    type: str = "changed"
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields this version does not know, kept so they can be shown."""

    def to_wire(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"type": self.type, "file": self.file, "timestamp": self.timestamp}
        for key in ("event", "seq", "publisher", "pid", "dest"):
            value = getattr(self, key)
            if value is not None:
                obj[key] = value
        obj.update({k: v for k, v in self.extra.items() if k not in obj})
        return obj

    def encode(self) -> bytes:
        return encode_json(self.to_wire())


_EVENT_FIELDS = {"type", "file", "timestamp", "event", "seq", "publisher", "pid", "dest"}


def decode_event(frames: list[bytes]) -> ChangeEvent:
    """A change event from a SUB socket's frames, or `ProtocolError` saying why not."""
    obj = decode_json_object(frames)
    file = obj.get("file")
    timestamp = obj.get("timestamp")
    if not isinstance(file, str):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "event has no string 'file'")
    timestamp = _whole_number(timestamp)
    if timestamp is None:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "event has no numeric 'timestamp'")
    seq = obj.get("seq")
    pid = obj.get("pid")
    return ChangeEvent(
        file=file,
        timestamp=int(timestamp),
        type=str(obj.get("type", "changed")),
        event=_str_or_none(obj.get("event")),
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
        publisher=_str_or_none(obj.get("publisher")),
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        dest=_str_or_none(obj.get("dest")),
        extra={k: v for k, v in obj.items() if k not in _EVENT_FIELDS},
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _whole_number(value: Any) -> int | None:
    """A JSON number as an int; None for anything else, booleans, NaN and infinities included."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value)


# --- file requests and replies (REQ -> REP) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileRequest:
    """`{"path": PATH}`, optionally with an `id` the reply echoes."""

    path: str
    id: str | None = None

    def encode(self) -> bytes:
        obj: dict[str, Any] = {"path": self.path}
        if self.id is not None:
            obj["id"] = self.id
        return encode_json(obj)


def decode_request(frames: list[bytes]) -> FileRequest:
    """A validated file request, or `ProtocolError` with the code to reply with."""
    obj = decode_json_object(frames)
    request_id = _optional_id(obj)
    path = obj.get("path")
    try:
        if not isinstance(path, str):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "request needs a string 'path'")
        if not path:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "path is empty")
        if len(path) > MAX_PATH_CHARS:
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, f"path longer than {MAX_PATH_CHARS} characters"
            )
        if not _is_clean_text(path):
            raise ProtocolError(
                ErrorCode.BAD_REQUEST, "path contains a NUL byte or a lone surrogate"
            )
    except ProtocolError as exc:
        exc.request_id = request_id
        raise
    return FileRequest(path=path, id=request_id)


@dataclass(frozen=True, slots=True)
class FileReply:
    """`{"content": TEXT, "timestamp": MS, "pid": PID}` (plus `id` when the request had one)."""

    content: str
    timestamp: int
    pid: int
    id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "content": self.content,
            "timestamp": self.timestamp,
            "pid": self.pid,
        }
        if self.id is not None:
            obj["id"] = self.id
        return obj

    def encode(self) -> bytes:
        return encode_json(self.to_wire())


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """`{"error": {"code", "message"}, "timestamp", "pid"}`: a request that failed, answered."""

    code: str
    message: str
    timestamp: int
    pid: int
    id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "error": {"code": self.code, "message": self.message},
            "timestamp": self.timestamp,
            "pid": self.pid,
        }
        if self.id is not None:
            obj["id"] = self.id
        return obj

    def encode(self) -> bytes:
        return encode_json(self.to_wire())


Reply = FileReply | ErrorReply


def error_reply(exc: ProtocolError, pid: int | None = None) -> ErrorReply:
    """The error reply that answers a refused request."""
    return ErrorReply(
        code=str(exc.code),
        message=exc.message,
        timestamp=now_ms(),
        pid=os.getpid() if pid is None else pid,
        id=exc.request_id,
    )


def decode_reply(frames: list[bytes]) -> Reply:
    """A file or error reply from a responder, or `ProtocolError` if it is neither.

    A reply carries a whole file (up to the filer's limit, 1 MiB by default, and more once
    escaped as JSON), so its size is left to the socket that received it (`MAXMSGSIZE`).
    """
    obj = decode_json_object(frames, max_bytes=None)
    timestamp = obj.get("timestamp")
    pid = obj.get("pid")
    reply_id = obj.get("id")
    reply_id = str(reply_id) if isinstance(reply_id, (str, int)) else None
    timestamp = _whole_number(timestamp) or 0
    if not isinstance(pid, int) or isinstance(pid, bool):
        pid = 0
    error = obj.get("error")
    if isinstance(error, dict):
        return ErrorReply(
            code=str(error.get("code", ErrorCode.INTERNAL)),
            message=str(error.get("message", "")),
            timestamp=int(timestamp),
            pid=pid,
            id=reply_id,
        )
    content = obj.get("content")
    if not isinstance(content, str):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "reply has neither 'content' nor 'error'")
    return FileReply(content=content, timestamp=int(timestamp), pid=pid, id=reply_id)


# --- cluster stats (stats PUB) ---------------------------------------------------------------

WORKER_STATES = ("starting", "ready", "busy", "stale", "dead", "errored")
"""Every state a worker slot can be in, in the order the monitor sorts them."""


@dataclass(slots=True)
class WorkerStats:
    """One worker slot as the supervisor last saw it."""

    slot: int
    pid: int | None
    state: str
    requests: int = 0
    errors: int = 0
    restarts: int = 0
    started: int | None = None
    """When the current process started, ms since the epoch."""
    last_heartbeat: int | None = None
    latency_ms: float | None = None
    """Recent mean time to answer a request, measured by the worker."""
    cpu_percent: float | None = None
    memory_bytes: int | None = None
    remote: bool = False
    """True for a worker that joined over TCP and is not our child process."""
    crashes: int = 0
    """Deaths the slot did not ask for (crash, kill, found stale); planned restarts not counted."""
    last_exit: str | None = None
    """How the slot's previous process ended, e.g. "exit code 3" or "killed by SIGKILL"."""
    host: str | None = None
    """Host name the worker reports; tells remote workers apart."""

    def to_wire(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> WorkerStats:
        """A worker entry whose every field has the type the monitor relies on."""
        if not isinstance(obj, dict) or "slot" not in obj or "state" not in obj:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "worker entry needs 'slot' and 'state'")
        known: dict[str, Any] = {"pid": None}
        for name in cls.__slots__:
            if name not in obj:
                continue
            value, kind = obj[name], _WORKER_FIELD_KINDS[name]
            if not _has_kind(value, kind):
                raise ProtocolError(
                    ErrorCode.BAD_REQUEST,
                    f"worker field {name!r} must be {kind}, not {value!r:.40}",
                )
            known[name] = float(value) if kind.startswith("float") and value is not None else value
        return cls(**known)


_WORKER_FIELD_KINDS = {
    "slot": "int",
    "pid": "int or null",
    "state": "str",
    "requests": "int",
    "errors": "int",
    "restarts": "int",
    "started": "int or null",
    "last_heartbeat": "int or null",
    "latency_ms": "float or null",
    "cpu_percent": "float or null",
    "memory_bytes": "int or null",
    "remote": "bool",
    "crashes": "int",
    "last_exit": "str or null",
    "host": "str or null",
}


def _has_kind(value: Any, kind: str) -> bool:
    if value is None:
        return kind.endswith("or null")
    if isinstance(value, bool):
        return kind == "bool"
    if kind.startswith("int"):
        return isinstance(value, int)
    if kind.startswith("float"):
        return isinstance(value, (int, float)) and math.isfinite(value)
    if kind.startswith("str"):
        return isinstance(value, str)
    return False


@dataclass(slots=True)
class ClusterSnapshot:
    """What the cluster publishes about itself, about once a second and on every change."""

    pid: int
    timestamp: int
    endpoints: dict[str, str]
    routing: str
    broker: dict[str, int]
    """Message and byte counters of the broker, e.g. `frontend_in`, `frontend_bytes_in`."""
    workers: list[WorkerStats]
    seq: int = 0
    type: str = "stats"

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "seq": self.seq,
            "pid": self.pid,
            "timestamp": self.timestamp,
            "endpoints": self.endpoints,
            "routing": self.routing,
            "broker": self.broker,
            "workers": [w.to_wire() for w in self.workers],
        }

    def encode(self) -> bytes:
        return encode_json(self.to_wire())


def decode_snapshot(frames: list[bytes]) -> ClusterSnapshot:
    """A stats snapshot, or `ProtocolError`; never trusts the shape of what arrived."""
    return snapshot_from_wire(decode_json_object(frames, max_bytes=MAX_SNAPSHOT_BYTES))


def snapshot_from_wire(obj: dict[str, Any]) -> ClusterSnapshot:
    """A snapshot from its JSON object (a stats message, or a `list` control reply), or
    `ProtocolError`; every field checked for the type its readers rely on."""
    try:
        workers = [WorkerStats.from_wire(w) for w in obj["workers"]]
        return ClusterSnapshot(
            pid=int(obj["pid"]),
            timestamp=int(obj["timestamp"]),
            endpoints={str(k): str(v) for k, v in dict(obj.get("endpoints", {})).items()},
            routing=str(obj.get("routing", "")),
            broker={str(k): int(v) for k, v in dict(obj.get("broker", {})).items()},
            workers=workers,
            seq=int(obj.get("seq", 0)),
        )
    except ProtocolError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"malformed stats snapshot: {exc!r}") from None
