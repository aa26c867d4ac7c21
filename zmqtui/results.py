"""What a request and a load run came to: plain data the commands and the panes show.

Headless and without zmq, so the monitor's panes can take these types without importing the
services that make them (`zmqtui.services.requester`, `zmqtui.services.sender`).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from zmqtui.protocol import ErrorReply, FileReply
from zmqtui.request_spec import SocketKind

Outcome = Literal["reply", "error", "malformed", "unavailable"]


@dataclass(frozen=True, slots=True)
class RequestResult:
    """How one request ended, and what it took."""

    path: str
    reply: FileReply | ErrorReply | None
    latency_ms: float
    """From the first send to the accepted reply (or to giving up), retries included."""
    tries: int
    error: str | None = None
    """Why there is no reply, e.g. "unavailable after 3 tries"; None when there is one."""
    request_id: str | None = None
    raw: bytes | None = None
    """The reply exactly as it arrived (a malformed one too), for `--json` and debugging."""
    discarded: int = 0
    """Replies thrown away because they answered another request."""
    handshake_failure: str | None = None
    """Why there was no reply when the connection's handshake tells (the server refused our
    CURVE key, a security mismatch, a peer that is not a ZeroMQ service)."""

    @property
    def outcome(self) -> Outcome:
        """reply (a file), error (an error reply), malformed (an answer that is no reply), or
        unavailable (no answer after every try)."""
        if isinstance(self.reply, FileReply):
            return "reply"
        if isinstance(self.reply, ErrorReply):
            return "error"
        return "unavailable" if self.raw is None else "malformed"


@dataclass(slots=True, kw_only=True)
class LoadFigures:
    """What a load run saw, whatever it sent: who answered, what failed, how fast."""

    count: int
    concurrency: int
    sent: int = 0
    replies_by_pid: Counter[int] = field(default_factory=Counter)
    """Every answer that names a pid, by that pid."""
    errors_by_code: Counter[str] = field(default_factory=Counter)
    unavailable: int = 0
    retries: int = 0
    """Tries beyond the first, summed over all requests."""
    discarded: int = 0
    handshake_failure: str | None = None
    """Why the latest unavailable request got no reply, when its handshake tells."""
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    """One per answered request."""

    @property
    def answered(self) -> int:
        return len(self.latencies_ms)

    @property
    def not_sent(self) -> int:
        """Requests never sent because the load stopped when the service was unavailable."""
        return self.count - self.sent

    @property
    def rate(self) -> float:
        """Answered requests per second of wall time."""
        return self.answered / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile(self, p: float) -> float | None:
        """The nearest-rank `p`th percentile of the latencies in ms, None without any."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]

    @property
    def latency(self) -> dict[str, float | None]:
        return {
            "p50": self.percentile(50),
            "p90": self.percentile(90),
            "p99": self.percentile(99),
            "max": max(self.latencies_ms, default=None),
        }

    def figures_to_wire(self) -> dict[str, Any]:
        """The figures as a JSON-ready dict (pids as strings, as JSON object keys must be)."""
        return {
            "count": self.count,
            "concurrency": self.concurrency,
            "sent": self.sent,
            "not_sent": self.not_sent,
            "answered": self.answered,
            "replies_by_pid": {str(pid): n for pid, n in sorted(self.replies_by_pid.items())},
            "errors_by_code": dict(sorted(self.errors_by_code.items())),
            "unavailable": self.unavailable,
            "handshake_failure": self.handshake_failure,
            "retries": self.retries,
            "discarded": self.discarded,
            "elapsed_s": self.elapsed_s,
            "rate": self.rate,
            "latency_ms": self.latency,
        }


@dataclass(slots=True)
class LoadSummary(LoadFigures):
    """What `run_load` saw of a file request sent many times."""

    endpoint: str
    path: str
    replies: int = 0
    """File replies."""
    malformed: int = 0

    def add(self, result: RequestResult) -> None:
        self.retries += result.tries - 1
        self.discarded += result.discarded
        if result.outcome == "unavailable":
            self.unavailable += 1
            self.handshake_failure = result.handshake_failure or self.handshake_failure
            return
        self.latencies_ms.append(result.latency_ms)
        if result.reply is None:
            self.malformed += 1
            return
        self.replies_by_pid[result.reply.pid] += 1
        if isinstance(result.reply, ErrorReply):
            self.errors_by_code[result.reply.code] += 1
        else:
            self.replies += 1

    def to_wire(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "endpoint": self.endpoint,
            "path": self.path,
            **self.figures_to_wire(),
            "replies": self.replies,
            "malformed": self.malformed,
        }


SendOutcome = Literal["reply", "error", "unavailable"]


@dataclass(frozen=True, slots=True)
class SendResult:
    """How one message went: its reply's frames, or why there was none."""

    reply: list[bytes] | None
    """The reply's frames (the envelope taken off); None when no reply came."""
    latency_ms: float
    """From the first send to the reply (or to giving up), retries included."""
    tries: int
    discarded: int = 0
    """Replies turned down as another request's (REQ only; a DEALER counts them per socket)."""
    handshake_failure: str | None = None

    @property
    def outcome(self) -> SendOutcome:
        """reply, error (an error reply, see `error_code`) or unavailable (no reply)."""
        if self.reply is None:
            return "unavailable"
        return "error" if error_code(self.reply) is not None else "reply"


def reply_json(reply: Sequence[bytes]) -> dict[str, Any] | None:
    """The reply's first frame as a JSON object, or None when it is not one."""
    if not reply or reply[0].lstrip()[:1] != b"{":
        return None
    try:
        value = json.loads(reply[0])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def error_code(reply: Sequence[bytes]) -> str | None:
    """The code of an error reply as the filer sends it (`{"error": {"code": CODE, ...}}`), or
    "ERROR" for an `error` object without a string code; None for any other reply."""
    value = reply_json(reply)
    if value is None or not isinstance(value.get("error"), dict):
        return None
    code = value["error"].get("code")
    return code if isinstance(code, str) else "ERROR"


def reply_pid(reply: Sequence[bytes]) -> int | None:
    """The `pid` a JSON reply names (who answered), or None."""
    value = reply_json(reply)
    pid = None if value is None else value.get("pid")
    return pid if isinstance(pid, int) and not isinstance(pid, bool) else None


@dataclass(slots=True)
class SendSummary(LoadFigures):
    """What `run_send_load` saw of a message sent many times."""

    endpoint: str
    kind: SocketKind
    frames: int
    """Frames in each message sent."""

    def add(self, result: SendResult) -> None:
        self.retries += result.tries - 1
        self.discarded += result.discarded
        if result.reply is None:
            self.unavailable += 1
            self.handshake_failure = result.handshake_failure or self.handshake_failure
            return
        self.latencies_ms.append(result.latency_ms)
        if (pid := reply_pid(result.reply)) is not None:
            self.replies_by_pid[pid] += 1
        if (code := error_code(result.reply)) is not None:
            self.errors_by_code[code] += 1

    def to_wire(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "endpoint": self.endpoint,
            "socket": self.kind,
            "frames": self.frames,
            **self.figures_to_wire(),
        }
