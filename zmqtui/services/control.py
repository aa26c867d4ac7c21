"""The cluster's control protocol: JSON commands on REQ/REP.

A request is `{"cmd": CMD, "n"?: int, "pid"?: int, "id"?: str}` with CMD one of `COMMANDS`;
the reply is `{"ok": true, "message": TEXT, ...}` or `{"ok": false, "error": TEXT}`, echoing the
request's `id`. A client that gets no reply retries with a fresh socket (Lazy Pirate); the
server answers a repeated command with a repeated `id` from its memory instead of running it
twice, so a retried `add` adds one worker, not two. An `id` repeated with another command is
refused: answering it from memory would report a command that never ran.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import zmq
import zmq.asyncio

from zmqtui.protocol import MAX_ID_CHARS, encode_json
from zmqtui.services import sockets
from zmqtui.services.reqrep import LazyPirate, envelope_end

logger = logging.getLogger(__name__)

COMMANDS = ("list", "scale", "add", "remove", "restart", "kill", "drain", "stop")
"""Every command the cluster takes."""

MAX_WORKERS = 256
"""Most local workers a cluster runs: `scale` and `add` refuse more."""

_REMEMBERED_REPLIES = 64
_REPLY_LINGER_MS = 200


class ControlError(RuntimeError):
    """The control endpoint did not answer (after every try), or answered nonsense."""


class HandshakeFailed(ControlError):
    """No answer because the handshake failed: the server refused our CURVE key, or the two
    sides' security does not match. The message says which."""


@dataclass(frozen=True, slots=True)
class ControlRequest:
    """One validated command."""

    cmd: str
    n: int | None = None
    pid: int | None = None
    id: str | None = None


class BadCommand(ValueError):
    """A control request that cannot be run; its text goes back in the error reply."""


def _whole_number(obj: dict[str, Any], key: str, required: bool) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise BadCommand(f"{obj['cmd']!r} needs {key!r}")
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadCommand(f"{key!r} must be a whole number, got {value!r}")
    return value


def decode_command(frames: list[bytes]) -> ControlRequest:
    """A validated command from a request's frames, or `BadCommand` saying what is wrong."""
    if len(frames) != 1:
        raise BadCommand(f"expected one frame, got {len(frames)}")
    try:
        obj = json.loads(frames[0].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadCommand("not UTF-8 JSON") from None
    if not isinstance(obj, dict):
        raise BadCommand("expected a JSON object")
    request_id = obj.get("id")
    if request_id is not None and (
        not isinstance(request_id, str) or len(request_id) > MAX_ID_CHARS
    ):
        raise BadCommand("id must be a short string")
    cmd = obj.get("cmd")
    if cmd not in COMMANDS:
        raise BadCommand(f"unknown command {cmd!r} (known: {', '.join(COMMANDS)})")
    n = _whole_number(obj, "n", required=cmd == "scale")
    if n is not None and n > MAX_WORKERS:
        raise BadCommand(f"at most {MAX_WORKERS} workers")
    if cmd == "add" and n == 0:
        raise BadCommand("'add' adds at least 1 worker")
    pid = _whole_number(obj, "pid", required=cmd in ("restart", "kill", "drain"))
    return ControlRequest(cmd=cmd, n=n, pid=pid, id=request_id)


Handler = Callable[[ControlRequest], Awaitable[dict[str, Any]]]


class ControlServer:
    """Answers like a REP socket (a ROUTER, see `reqrep`), running each command through
    `handler`; always answers.

    The socket binds in the constructor, so a taken endpoint fails before anything starts.
    """

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        handler: Handler,
        *,
        public: bool = False,
    ) -> None:
        self._handler = handler
        self._replies: OrderedDict[str, tuple[ControlRequest, bytes]] = OrderedDict()
        """The latest replies by request id, each with the command it answered."""
        self._sock = ctx.socket(zmq.ROUTER)
        sockets.configure(self._sock)
        try:
            self.endpoint = sockets.bind(self._sock, endpoint, public=public)
        except BaseException:
            self._sock.close(linger=0)
            raise

    async def run(self) -> None:
        """Answer commands until cancelled."""
        while True:
            frames = await self._sock.recv_multipart()
            start = envelope_end(frames)
            if start is None:
                continue
            reply = await self._answer(frames[start:])
            await self._sock.send_multipart([*frames[:start], reply])

    async def _answer(self, frames: list[bytes]) -> bytes:
        try:
            request = decode_command(frames)
        except BadCommand as exc:
            return encode_json({"ok": False, "error": str(exc)})
        if request.id is not None and request.id in self._replies:
            answered, raw = self._replies[request.id]
            if answered == request:
                return raw
            return encode_json(
                {
                    "ok": False,
                    "error": f"id {request.id!r} was already used for another command "
                    f"({answered.cmd!r}); send each command with its own id",
                    "id": request.id,
                }
            )
        try:
            reply = await self._handler(request)
        except Exception as exc:
            logger.exception("control command %r failed", request.cmd)
            reply = {"ok": False, "error": f"internal error: {exc}"}
        if request.id is not None:
            reply = {**reply, "id": request.id}
        raw = encode_json(reply)
        if request.id is not None:
            self._replies[request.id] = (request, raw)
            while len(self._replies) > _REMEMBERED_REPLIES:
                self._replies.popitem(last=False)
        return raw

    def close(self) -> None:
        """Close; a reply still on its way (to `stop`, say) gets `_REPLY_LINGER_MS` to leave."""
        sockets.remove_ipc_file(self.endpoint)
        self._sock.close(linger=_REPLY_LINGER_MS)


async def send_command(
    ctx: zmq.asyncio.Context,
    endpoint: str,
    cmd: str,
    timeout_ms: int = 2500,
    *,
    tries: int = 3,
    **args: Any,
) -> dict[str, Any]:
    """Send one command and return the reply; `ControlError` when no reply comes
    (`HandshakeFailed` when the handshake says why).

    Each try uses a fresh REQ socket (`reqrep.LazyPirate`); every try carries the same `id`,
    so the server runs the command at most once.
    """
    payload = encode_json({"cmd": cmd, **args, "id": secrets.token_hex(8)})
    pirate = LazyPirate(
        ctx, endpoint, timeout_ms=max(1, timeout_ms), tries=max(1, tries), max_reply_bytes=None
    )
    try:
        exchange = await pirate.ask(payload, lambda frames: frames[0])
    finally:
        pirate.close()
    if exchange.taken is None:
        if exchange.why is not None:
            raise HandshakeFailed(f"cannot talk to {endpoint}: {exchange.why}")
        raise ControlError(f"no reply from {endpoint} after {exchange.tries} tries")
    try:
        reply = json.loads(exchange.taken)
    except ValueError:
        raise ControlError(f"{endpoint} answered with something that is not JSON") from None
    if not isinstance(reply, dict) or "ok" not in reply:
        raise ControlError(f"{endpoint} answered with something that is not a control reply")
    return reply
