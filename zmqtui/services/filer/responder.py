"""The responder: `FileRules` served on a ROUTER that answers like a REP (see `reqrep`)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import Callable

import zmq
import zmq.asyncio

from zmqtui.services import sockets
from zmqtui.services.budget import ReplyBudget
from zmqtui.services.filer.rules import Answer, FileRules
from zmqtui.services.reqrep import envelope_end


async def serve_files(
    ctx: zmq.asyncio.Context,
    endpoint: str,
    rules: FileRules,
    *,
    public: bool = False,
    on_bound: Callable[[str], None] | None = None,
    on_answer: Callable[[Answer], None] | None = None,
) -> None:
    """Answer file requests, as a REP socket would, on `endpoint` until cancelled.

    Exactly one reply per request, whatever arrived. Inbound messages over `MAXMSGSIZE`
    (64 KiB) make libzmq drop the sender's connection; its client times out and retries, as
    does one whose large replies, unread, fill its budget (`budget.ReplyBudget`). Files are
    read in a thread of the service's own, one request at a time; `on_answer` runs there.

    The socket is a ROUTER that answers like a REP (see `reqrep` for why not a REP).

    Args:
        public: Allow a non-loopback bind.
        on_bound: Called with the bound endpoint (a `:0` port resolved) once bound.
        on_answer: Called after each reply is sent, e.g. to print or count it. What it raises
            ends the service.
    """
    sock = ctx.socket(zmq.ROUTER, socket_class=zmq.Socket)
    responder: _Responder | None = None
    try:
        sockets.configure(sock)
        bound = sockets.bind(sock, endpoint, public=public)
        if on_bound is not None:
            on_bound(bound)
        responder = _Responder(ctx, sock, rules, on_answer)
        await responder.failed
    finally:
        if responder is not None:
            responder.stop()
        sock.close(linger=0)


class _Responder:
    """Answers what reaches a ROUTER socket, in a thread of its own.

    The thread waits for each request inside libzmq's receive (GIL released): a request costs
    no event-loop turn, future or task switch, which through `zmq.asyncio` or a reader
    callback cost more than reading the file does, nor a poll of a second socket, nor the
    exception a non-blocking receive raises when nothing more waits. To stop it, a private
    peer (inproc, with a random routing id no client can guess) sends the socket a message.
    The thread owns the socket until `stop` returns.
    """

    def __init__(
        self,
        ctx: zmq.Context,
        sock: zmq.Socket,
        rules: FileRules,
        on_answer: Callable[[Answer], None] | None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._sock = sock
        self._rules = rules
        self._on_answer = on_answer
        self._budget = ReplyBudget()
        self.failed: asyncio.Future[None] = self._loop.create_future()
        """Never resolved: ends with the exception that stopped the responder, if one does."""
        self._stop_id = secrets.token_bytes(16)
        stop_endpoint = f"inproc://filer-stop-{secrets.token_hex(8)}"
        sock.bind(stop_endpoint)
        self._stopper = ctx.socket(zmq.DEALER, socket_class=zmq.Socket)
        sockets.configure(self._stopper)
        self._stopper.setsockopt(zmq.ROUTING_ID, self._stop_id)
        self._stopper.connect(stop_endpoint)
        self._thread = threading.Thread(target=self._run, name="filer-responder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and wait for the thread (it ends the request it is answering)."""
        with contextlib.suppress(zmq.ZMQError):
            self._stopper.send(b"", zmq.NOBLOCK)
        self._thread.join()
        self._stopper.close(linger=0)

    def _run(self) -> None:
        sock, stop_id = self._sock, self._stop_id
        try:
            while True:
                frames = sockets.recv_routed(sock)
                if frames[0] == stop_id:
                    return
                self._answer(frames)
        except Exception as exc:
            self._loop.call_soon_threadsafe(self._fail, exc)

    def _fail(self, exc: Exception) -> None:
        if not self.failed.done():
            self.failed.set_exception(exc)

    def _answer(self, frames: list[bytes]) -> None:
        start = envelope_end(frames)
        if start is None:
            return
        answer = self._rules.respond(frames[start:])
        frames[start:] = (answer.encode(),)
        # A ROUTER never blocks a send: it drops a reply to a peer gone or over its HWM, and
        # the budget one to a peer with too many reply bytes unread.
        self._budget.send(self._sock, frames)
        if self._on_answer is not None:
            self._on_answer(answer)
