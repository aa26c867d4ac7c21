"""Reading a tap's capture side (`zmqtui tap --pairs`) for the monitor's Conversations view.

A SUB connected to the tap's PUB takes in the pairs on a thread of its own: decoding and
counting them never runs on the screen's event loop, which asks for a `ConversationsView` at
most once per frame (`view`). The socket's monitor events are kept too (`events`), for the
socket-events log. Everything it keeps is bounded.
"""

from __future__ import annotations

import collections
import json
import threading
import time

import zmq
from zmq.utils.monitor import parse_monitor_message

from zmqtui.conversations import Conversation, ConversationBook, ConversationsView
from zmqtui.protocol import MAX_MESSAGE_BYTES
from zmqtui.security.handshake import socket_event_words
from zmqtui.services import sockets
from zmqtui.socket_events import SocketEvent

RECEIVE_HWM = 100_000
"""Pairs the SUB queues while the thread is busy (a tap publishes in bursts)."""
MAX_EVENTS = 200
"""Socket events kept until `events` takes them."""

_BATCH = 1000
_POLL_MS = 100


class ConversationsReader:
    """Takes in the pairs a tap publishes at `endpoint`: `start`, then `view` and `events` as
    often as the screen wants, `stop` at the end. `socket` names it in the events."""

    def __init__(self, ctx: zmq.Context, endpoint: str, *, socket: str = "tap") -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.socket = socket
        self._book = ConversationBook()
        self._lock = threading.Lock()
        self._events: collections.deque[SocketEvent] = collections.deque(maxlen=MAX_EVENTS)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        """What ended the thread, if something did."""

    def start(self) -> None:
        """Connect (raising `EndpointError` for an endpoint it cannot use) and read on a thread."""
        sock = self.ctx.socket(zmq.SUB)
        try:
            sockets.configure(sock, max_message_bytes=MAX_MESSAGE_BYTES)
            sock.setsockopt(zmq.RCVHWM, RECEIVE_HWM)
            sock.subscribe(b"")
            monitor = sock.get_monitor_socket(sockets.STATE_EVENTS)
        except BaseException:
            sock.close(linger=0)
            raise
        try:
            self._event("connecting")
            sockets.connect(sock, self.endpoint)
        except BaseException:
            _close(sock, monitor)
            raise
        self._thread = threading.Thread(
            target=self._run, args=(sock, monitor), name="zmqtui-conversations", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def view(self, rows: int) -> ConversationsView:
        """The totals, the latest `rows` pairs and the busiest clients' and workers' latencies."""
        with self._lock:
            return self._book.view(rows)

    @property
    def generation(self) -> int:
        return self._book.generation

    def events(self) -> list[SocketEvent]:
        """The socket's events since the last call, oldest first."""
        taken = []
        while self._events:
            taken.append(self._events.popleft())
        return taken

    def _event(self, name: str, detail: str = "") -> None:
        self._events.append(
            SocketEvent(time.time() * 1000, self.socket, self.endpoint, name, detail)
        )

    # --- the thread ---------------------------------------------------------------------

    def _run(self, sock: zmq.Socket, monitor: zmq.Socket) -> None:
        try:
            self._read(sock, monitor)
        except BaseException as exc:
            self.error = exc
        finally:
            _close(sock, monitor)

    def _read(self, sock: zmq.Socket, monitor: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(monitor, zmq.POLLIN)
        session = sockets.SessionWatch()
        curve_client = sock.getsockopt(zmq.MECHANISM) == zmq.CURVE
        while not self._stopping.is_set():
            ready = dict(poller.poll(_POLL_MS))
            if sock in ready:
                self._take(sock)
            if monitor in ready:
                while True:
                    try:
                        event = parse_monitor_message(monitor.recv_multipart(zmq.NOBLOCK))
                    except zmq.Again:
                        break
                    session.saw(event["event"])
                    words = socket_event_words(
                        event["event"], event["value"], curve_client=curve_client
                    )
                    if words is not None:
                        self._event(*words)
            if session.given_up():
                self._event("connecting", "libzmq gave the connection up: connecting again")
                sockets.reconnect(sock, self.endpoint)

    def _take(self, sock: zmq.Socket) -> None:
        taken: list[Conversation | None] = []
        for _ in range(_BATCH):
            try:
                frames = sockets.recv_nowait(sock)
            except zmq.Again:
                break
            try:
                if len(frames) != 1:
                    raise ValueError("a pair is one frame")
                taken.append(Conversation.from_wire(json.loads(frames[0])))
            except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
                taken.append(None)
        with self._lock:
            book = self._book
            for conversation in taken:
                if conversation is None:
                    book.add_malformed()
                else:
                    book.add(conversation)


def _close(sock: zmq.Socket, monitor: zmq.Socket) -> None:
    sock.disable_monitor()
    monitor.close(linger=0)
    sock.close(linger=0)
