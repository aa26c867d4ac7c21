"""The bridge: the only part of the app that owns ZeroMQ sockets.

It runs on Textual's event loop. Every socket belongs to one Textual worker, is drained in
batches with DONTWAIT, and each batch becomes one Textual message. A socket monitor on every
socket turns ZeroMQ's connection events into `ConnectionChanged` messages. Nothing a socket or a
service does ends the app: failures become `BackendProblem` messages and the socket is retried.

In embedded mode the watcher's `ChangePublisher` runs in-process, owned by the bridge: that is
how the publisher pane sees every event published, the subscriber count and the subscriptions
of its XPUB socket, and can publish by hand. The filer cluster runs as a child process
(`zmqtui.services.stack`); the bridge starts it once the first frame is on screen, watches
it and reports an early exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import zmq
import zmq.asyncio
from textual.app import App
from textual.worker import Worker, WorkerCancelled, WorkerFailed
from zmq.utils.monitor import recv_monitor_message

from zmqtui.config import REQUEST_TIMEOUT_MS, REQUEST_TRIES
from zmqtui.protocol import (
    MAX_MESSAGE_BYTES,
    MAX_SNAPSHOT_BYTES,
    ChangeEvent,
    ProtocolError,
    decode_snapshot,
    now_ms,
)
from zmqtui.services import sockets
from zmqtui.services.control import ControlError, send_command
from zmqtui.services.requester import Requester, run_load
from zmqtui.services.stack import EmbeddedCluster
from zmqtui.services.subscriber import (
    MAX_BATCH,
    SequenceTracker,
    decode_received,
    topic_for,
)
from zmqtui.services.supervisor import describe_exit
from zmqtui.services.watcher import ChangePublisher
from zmqtui.tui.messages import (
    BackendProblem,
    Capture,
    CapturesReceived,
    ClusterExited,
    ConnectionChanged,
    ControlAnswered,
    EventsPublished,
    LoadFinished,
    LoadProgressed,
    PublisherStatus,
    RequestFinished,
    SendFailed,
    SnapshotReceived,
)

SOCKET_NAMES = ("pub", "sub", "req", "stats", "control")
"""Sockets the status bar shows: the publisher (embedded XPUB or attached SUB), the
subscriber pane's SUB, and the request, stats and control endpoints."""

MAX_UNHANDLED_BATCHES = 4
"""Batches posted but not yet handled by the app before a pump stops reading: the socket's
high-water mark then makes the publisher drop (visible as `seq` gaps), memory stays flat."""

DRAIN_SLICE_S = 0.005
"""Most time a pump spends receiving and decoding before it posts what it has and yields: a
key press never waits behind a long batch, whatever the size of the messages."""

FLOOD_PAUSE_FACTOR = 3.0
"""After a slice cut short by time or by `MAX_BATCH` a pump rests this many times as long as
the slice took: each pump then uses at most a quarter of the loop, and the two SUB pumps leave
the screen and the keys half of it. What arrives meanwhile waits in the socket; past its
high-water mark the publisher drops it."""

FLUSH_INTERVAL_S = 1 / 30
"""How often events the embedded publisher sent are handed to the app as one message."""

STATUS_INTERVAL_S = 0.25
"""How often the embedded publisher's counters are checked for changes."""

RETRY_DELAY_S = 1.0

_MONITOR_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_CONNECT_DELAYED
    | zmq.EVENT_CONNECT_RETRIED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the app connects; None for an endpoint it was not given (attach mode)."""

    pub: str | None = None
    req: str | None = None
    stats: str | None = None
    control: str | None = None


class Backend(Protocol):
    """What the app asks of its backend; `ZmqBridge` is the real one, tests script others."""

    embedded: bool
    endpoints: Endpoints
    watch_path: Path | None

    def start(self, app: App) -> None:
        """Begin: open sockets and post messages to `app`."""

    async def stop(self) -> None:
        """End every socket and worker; called as the app closes."""

    def set_prefixes(self, prefixes: Sequence[str]) -> None:
        """Change what the subscriber pane's SUB socket subscribes to."""

    def publish(self, file: str, event: str, dest: str | None = None) -> None:
        """Publish an event by hand (embedded publisher only); `dest` is where a move went."""

    def send_request(
        self, path: str, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        """Request `path` once, or `count` times with `concurrency` in flight; the outcome and
        progress messages carry `send_id`."""

    def cancel_send(self, send_id: int) -> None:
        """Stop the send `send_id` if it is still in flight; it ends as failed, "cancelled"."""

    def control(self, command: str, **args: int) -> None:
        """Send a control command to the cluster (kill, restart, scale...)."""

    def restart_cluster(self) -> None:
        """Start the embedded cluster again after it died (embedded mode only)."""


class _Credit:
    """Lets a pump post only a few unhandled batches at a time (backpressure)."""

    def __init__(self, limit: int) -> None:
        self._free = asyncio.Semaphore(limit)

    async def take(self) -> Callable[[], None]:
        await self._free.acquire()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._free.release()

        return release


class ZmqBridge:
    """The real backend: sockets on Textual's loop, an in-process publisher when embedded.

    Args:
        endpoints: what to connect to (in embedded mode: what the stack binds).
        watch_path: in embedded mode, the directory the in-process publisher watches.
        recursive: watch the subdirectories of `watch_path` too.
        cluster: in embedded mode, the cluster child process to start (after the first frame)
            and keep an eye on; whoever made it stops it.
        timeout_ms, tries: Lazy Pirate settings for requests.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        watch_path: Path | None = None,
        recursive: bool = False,
        cluster: EmbeddedCluster | None = None,
        timeout_ms: int = REQUEST_TIMEOUT_MS,
        tries: int = REQUEST_TRIES,
    ) -> None:
        self.endpoints = endpoints
        self.watch_path = watch_path
        self.embedded = watch_path is not None
        self.recursive = recursive
        self.cluster = cluster
        self.timeout_ms = timeout_ms
        self.tries = tries
        self.publisher: ChangePublisher | None = None
        self._app: App | None = None
        self._ctx: zmq.asyncio.Context | None = None
        self._workers: list[Worker[None]] = []
        self._prefixes: tuple[str, ...] = ("",)
        self._sub_socket: zmq.asyncio.Socket | None = None
        self._sharing = False
        """Attach mode with the default prefixes: the publisher pane's SUB feeds both panes."""
        self._subscriber: Worker[None] | None = None
        self._sub_tracker = SequenceTracker()
        self._pending_events: list[ChangeEvent] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._states: dict[str, tuple[str, str | None, str]] = {}
        self._sends: dict[int, Worker[None]] = {}
        """The sends in flight by send id, so that one can be cancelled."""

    # --- lifetime --------------------------------------------------------------------------

    @property
    def app(self) -> App:
        assert self._app is not None, "the bridge is not started"
        return self._app

    @property
    def ctx(self) -> zmq.asyncio.Context:
        assert self._ctx is not None, "the bridge is not started"
        return self._ctx

    def start(self, app: App) -> None:
        self._app = app
        self._ctx = zmq.asyncio.Context()
        pub = self.endpoints.pub
        if self.embedded:
            self._run(self._run_publisher(), "publisher", "the embedded publisher")
        elif pub is not None:
            self._sharing = self._prefixes == ("",)
            self._run(self._pump_observer(pub), "observer", f"observe {pub}")
            if not self._sharing:
                self._start_subscriber(pub)
        else:
            self._post_state("pub", "off", None)
            self._post_state("sub", "off", None)
        if self.endpoints.stats is not None:
            self._run(self._pump_stats(self.endpoints.stats), "stats", "cluster stats")
        else:
            self._post_state("stats", "off", None)
        for name in ("req", "control"):
            endpoint = getattr(self.endpoints, name)
            if endpoint is None:
                self._post_state(name, "off", None)
            else:
                self._run(self._probe(name, endpoint), name, f"watch {endpoint}")
        if self.cluster is not None:
            # its processes start Python while the first frame is drawn: after that frame
            app.call_after_refresh(self._start_cluster, self.cluster)

    async def stop(self) -> None:
        """Cancel every worker, wait for their sockets to close, then end the Context."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(WorkerCancelled, WorkerFailed, asyncio.CancelledError):
                await worker.wait()
        if self._ctx is not None:
            self._ctx.destroy(linger=0)
            self._ctx = None

    def _run(self, work: Coroutine[Any, Any, None], group: str, description: str) -> Worker[None]:
        """Run `work` as a Textual worker; an error in it is told, never fatal."""
        worker = self.app.run_worker(
            self._told(work, description),
            group=group,
            description=description,
            exclusive=False,
            exit_on_error=False,
        )
        self._workers.append(worker)
        self._workers = [w for w in self._workers if not w.is_finished]
        return worker

    async def _told(self, work: Coroutine[Any, Any, None], description: str) -> None:
        try:
            await work
        except Exception as exc:  # a bug or an unforeseen failure: say so, keep running
            self._problem(f"{description} failed: {exc!r}")

    def _post_state(self, socket: str, state: str, endpoint: str | None, detail: str = "") -> None:
        """Tell the app about a change (ZeroMQ retries a dead peer ten times a second)."""
        if self._states.get(socket) == (state, endpoint, detail):
            return
        self._states[socket] = (state, endpoint, detail)
        self.app.post_message(ConnectionChanged(socket, state, endpoint, detail))
        if socket == "pub" and self._sharing:
            self._post_state("sub", state, endpoint, detail)

    def _problem(self, text: str, severity: str = "error") -> None:
        self.app.post_message(BackendProblem(text, severity))

    # --- sockets with a monitor ------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _connected(
        self, name: str, kind: int, endpoint: str, *, max_message_bytes: int = MAX_MESSAGE_BYTES
    ) -> AsyncIterator[zmq.asyncio.Socket]:
        """A socket connected to `endpoint`, its connection state reported as `name`."""
        sock = self.ctx.socket(kind)
        sockets.configure(sock, max_message_bytes=max_message_bytes)
        monitor = sock.get_monitor_socket(_MONITOR_EVENTS)
        watcher = asyncio.create_task(self._watch_monitor(name, endpoint, monitor))
        try:
            self._post_state(name, "connecting", endpoint)
            sockets.connect(sock, endpoint)
            yield sock
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            monitor.close(linger=0)
            sock.close(linger=0)

    async def _watch_monitor(self, name: str, endpoint: str, monitor: zmq.asyncio.Socket) -> None:
        states = {
            zmq.EVENT_HANDSHAKE_SUCCEEDED: "connected",
            zmq.EVENT_CONNECT_RETRIED: "retrying",
            zmq.EVENT_DISCONNECTED: "disconnected",
            zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "failed",
            zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "failed",
            zmq.EVENT_HANDSHAKE_FAILED_AUTH: "failed",
        }
        while True:
            event = await recv_monitor_message(monitor)
            state = states.get(event["event"])
            if state is not None:
                self._post_state(name, state, endpoint)

    async def _retrying(self, name: str, endpoint: str, run: Callable[[], object]) -> None:
        """Run `run()` (a coroutine function) again after any socket error, forever."""
        while True:
            try:
                await run()  # type: ignore[misc]
                return
            except (zmq.ZMQError, sockets.EndpointError) as exc:
                self._post_state(name, "failed", endpoint, str(exc))
                await asyncio.sleep(RETRY_DELAY_S)

    # --- SUB pumps --------------------------------------------------------------------------

    async def _drain(
        self,
        sock: zmq.asyncio.Socket,
        streams: Callable[[], Sequence[tuple[str, SequenceTracker]]],
    ) -> None:
        """Receive forever, posting one `CapturesReceived` per slice and stream: what arrived
        in up to DRAIN_SLICE_S of work, at most MAX_BATCH messages. Each message is decoded
        once, whatever the number of streams; each stream has its own sequence notes."""
        credit = _Credit(MAX_UNHANDLED_BATCHES)
        view = sockets.plain_view(sock)
        while True:
            release = await credit.take()
            first = await sock.recv_multipart()
            started = time.perf_counter()
            received_ms = now_ms()
            trackers = streams()
            batches: list[list[Capture]] = [[] for _ in trackers]
            count = 0
            waiting = sockets.queued_messages(view, MAX_BATCH - 1, started + DRAIN_SLICE_S)
            for frames in itertools.chain([first], waiting):
                received = decode_received(frames, received_ms)
                event, error, held = received.event, received.error, tuple(frames)
                for (_, tracker), captures in zip(trackers, batches, strict=True):
                    notes = tracker.observe(event, received_ms) if event is not None else ()
                    captures.append(Capture(held, received_ms, event, error, tuple(notes)))
                count += 1
            flooded = count == MAX_BATCH or time.perf_counter() >= started + DRAIN_SLICE_S
            for index, ((stream, _), captures) in enumerate(zip(trackers, batches, strict=True)):
                last = index == len(trackers) - 1  # handled after the others: it gives the credit
                self.app.post_message(CapturesReceived(stream, captures, release if last else None))
            if flooded:  # leave the screen and the keys their share
                await asyncio.sleep((time.perf_counter() - started) * FLOOD_PAUSE_FACTOR)
            else:
                await asyncio.sleep(0)  # an awaited recv on a ready socket may not yield

    def _start_subscriber(self, endpoint: str) -> None:
        self._subscriber = self._run(
            self._pump_subscriber(endpoint), "subscriber", f"subscribe to {endpoint}"
        )

    async def _pump_subscriber(self, endpoint: str) -> None:
        async def run() -> None:
            async with self._connected("sub", zmq.SUB, endpoint) as sock:
                for prefix in self._prefixes:
                    sock.subscribe(topic_for(prefix))
                self._sub_socket = sock
                try:
                    await self._drain(sock, lambda: [("sub", self._sub_tracker)])
                finally:
                    if self._sub_socket is sock:  # not a newer pump's
                        self._sub_socket = None

        await self._retrying("sub", endpoint, run)

    async def _pump_observer(self, endpoint: str) -> None:
        """The publisher pane's SUB; the subscriber pane's too while `_sharing`."""

        async def run() -> None:
            async with self._connected("pub", zmq.SUB, endpoint) as sock:
                sock.subscribe(b"")
                tracker = SequenceTracker()
                observer = [("observer", tracker)]
                await self._drain(
                    sock,
                    lambda: [*observer, ("sub", self._sub_tracker)] if self._sharing else observer,
                )

        await self._retrying("pub", endpoint, run)

    def set_prefixes(self, prefixes: Sequence[str]) -> None:
        old = {topic_for(p) for p in self._prefixes}
        self._prefixes = tuple(prefixes) or ("",)
        new = {topic_for(p) for p in self._prefixes}
        # seq counts every event, so a prefix filter makes gaps that mean nothing
        self._sub_tracker = SequenceTracker(report_gaps=self._prefixes == ("",))
        if not self.embedded and self.endpoints.pub is not None:
            self._share_or_not(self.endpoints.pub)
        sock = None if self._sharing else self._sub_socket  # a cancelled pump's is closing
        if sock is None:
            return
        for topic in new - old:
            sock.subscribe(topic)
        for topic in old - new:
            sock.unsubscribe(topic)

    def _share_or_not(self, endpoint: str) -> None:
        """Attached: one SUB for both panes while the prefixes are the default, else two."""
        sharing = self._prefixes == ("",)
        if sharing == self._sharing:
            return
        self._sharing = sharing
        if sharing:
            if self._subscriber is not None:
                self._subscriber.cancel()
                self._subscriber = self._sub_socket = None
            if "pub" in self._states:
                self._post_state("sub", *self._states["pub"])
        else:
            self._start_subscriber(endpoint)

    # --- the cluster: stats, probes, requests, control ----------------------------------------

    async def _pump_stats(self, endpoint: str) -> None:
        async def run() -> None:
            async with self._connected(
                "stats", zmq.SUB, endpoint, max_message_bytes=MAX_SNAPSHOT_BYTES
            ) as sock:
                sock.subscribe(b"")
                await self._drain_stats(sock)

        await self._retrying("stats", endpoint, run)

    async def _drain_stats(self, sock: zmq.asyncio.Socket) -> None:
        """Post only the newest snapshot of each batch; say once when one is malformed."""
        complained = False
        view = sockets.plain_view(sock)
        while True:
            batch = [await sock.recv_multipart(), *sockets.queued_messages(view, MAX_BATCH - 1)]
            for frames in reversed(batch):
                try:
                    snapshot = decode_snapshot(frames)
                except ProtocolError as exc:
                    if not complained:
                        complained = True
                        self._problem(f"stats: ignoring a malformed snapshot: {exc}", "warning")
                    continue
                self.app.post_message(SnapshotReceived(snapshot))
                break
            await asyncio.sleep(0)

    async def _probe(self, name: str, endpoint: str) -> None:
        """A DEALER that only connects, so its monitor shows whether `endpoint` is up."""

        async def run() -> None:
            async with self._connected(name, zmq.DEALER, endpoint):
                await asyncio.Event().wait()

        await self._retrying(name, endpoint, run)

    def send_request(
        self, path: str, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        endpoint = self.endpoints.req
        if endpoint is None:
            self._problem("no --req endpoint given: nowhere to send requests", "warning")
            self.app.post_message(SendFailed(path, count, "no --req endpoint given", send_id))
            return
        if count <= 1:
            work = self._request_once(endpoint, path, send_id)
            description = f"request {path}"
        else:
            work = self._request_load(endpoint, path, count, concurrency, send_id)
            description = f"{count} requests for {path}"
        worker = self._run(self._answering(work, path, count, send_id), "requests", description)
        if send_id is not None:
            self._sends[send_id] = worker

    def cancel_send(self, send_id: int) -> None:
        worker = self._sends.pop(send_id, None)
        if worker is not None:
            worker.cancel()

    async def _answering(
        self, work: Coroutine[Any, Any, None], path: str, count: int, send_id: int | None
    ) -> None:
        """Run a send; if it breaks or is cancelled, tell the composer too, so the send does not
        wait forever."""
        try:
            await work
        except asyncio.CancelledError:
            self.app.post_message(SendFailed(path, count, "cancelled", send_id, cancelled=True))
            raise
        except Exception as exc:
            self.app.post_message(SendFailed(path, count, f"{type(exc).__name__}: {exc}", send_id))
            raise
        finally:
            if send_id is not None:
                self._sends.pop(send_id, None)

    async def _request_once(self, endpoint: str, path: str, send_id: int | None) -> None:
        async with Requester(
            self.ctx, endpoint, timeout_ms=self.timeout_ms, tries=self.tries
        ) as requester:
            result = await requester.request(path)
        self.app.post_message(RequestFinished(result, send_id))

    async def _request_load(
        self, endpoint: str, path: str, count: int, concurrency: int, send_id: int | None
    ) -> None:
        done = 0

        def progressed(_result: object) -> None:
            nonlocal done
            done += 1
            self.app.post_message(LoadProgressed(done, count, send_id))

        summary = await run_load(
            self.ctx,
            endpoint,
            path,
            count,
            concurrency,
            timeout_ms=self.timeout_ms,
            tries=self.tries,
            on_result=progressed,
        )
        self.app.post_message(LoadFinished(summary, send_id))

    def control(self, command: str, **args: int) -> None:
        endpoint = self.endpoints.control
        if endpoint is None:
            self._problem("no --control endpoint given: the cluster cannot be steered", "warning")
            return
        self._run(self._control(endpoint, command, args), "control", f"control: {command}")

    async def _control(self, endpoint: str, command: str, args: dict[str, int]) -> None:
        try:
            reply = await send_command(
                self.ctx, endpoint, command, timeout_ms=self.timeout_ms, tries=self.tries, **args
            )
        except ControlError as exc:
            self._problem(f"{command}: {exc}")
            return
        self.app.post_message(ControlAnswered(command, reply))

    def restart_cluster(self) -> None:
        """Stop the embedded cluster if it still runs, start it again and watch the new one."""
        cluster = self.cluster
        if cluster is None:
            self._problem(
                "no embedded cluster to restart: attached, nothing was started", "warning"
            )
            return
        self._run(self._restart_cluster(cluster), "cluster", "restart the cluster")

    async def _restart_cluster(self, cluster: EmbeddedCluster) -> None:
        try:
            await asyncio.to_thread(cluster.restart)  # waits for the old one to stop
        except (OSError, RuntimeError) as exc:
            self._problem(f"the embedded cluster could not restart: {exc}")
            return
        await self._watch_cluster(cluster)

    def _start_cluster(self, cluster: EmbeddedCluster) -> None:
        if self._ctx is None:  # stopped before the first frame
            return
        try:
            cluster.start()
        except (OSError, RuntimeError) as exc:
            self._problem(f"the embedded cluster could not start: {exc}")
            return
        self._run(self._watch_cluster(cluster), "cluster", "the cluster process")

    async def _watch_cluster(self, cluster: EmbeddedCluster) -> None:
        """Tell the app when the process started last ends by itself (not by a restart)."""
        process = cluster.process
        while (code := cluster.poll()) is None:
            await asyncio.sleep(0.5)
        if cluster.process is process:
            self.app.post_message(ClusterExited(code, describe_exit(code), cluster.log_tail()))

    # --- the embedded publisher ----------------------------------------------------------------

    async def _run_publisher(self) -> None:
        assert self.watch_path is not None and self.endpoints.pub is not None
        for endpoint in (self.endpoints.pub, "tcp://127.0.0.1:0"):
            publisher = ChangePublisher(
                self.ctx, endpoint, [str(self.watch_path)], recursive=self.recursive
            )
            running = asyncio.create_task(publisher.run())
            bound = asyncio.create_task(publisher.bound.wait())
            try:
                await asyncio.wait({running, bound}, return_when=asyncio.FIRST_COMPLETED)
                if not bound.done():
                    error = running.exception() if not running.cancelled() else None
                    self._post_state("pub", "failed", endpoint, str(error))
                    self._problem(f"the embedded publisher could not start: {error}")
                    continue
                await self._serve_publisher(publisher, running)
                return
            finally:
                for task in (running, bound):
                    task.cancel()
                with contextlib.suppress(BaseException):
                    await running

    async def _serve_publisher(self, publisher: ChangePublisher, running: asyncio.Task) -> None:
        self.publisher = publisher
        endpoint = publisher.endpoint
        assert endpoint is not None
        publisher.add_listener(self._on_published)
        self._post_state("pub", "bound", endpoint)
        self.endpoints = replace(self.endpoints, pub=endpoint)
        self._run(self._pump_subscriber(endpoint), "subscriber", f"subscribe to {endpoint}")
        last = None
        try:
            while not running.done():
                status = (publisher.published, publisher.subscribers, dict(publisher.subscriptions))
                if status != last:
                    last = status
                    self.app.post_message(PublisherStatus(*status))
                await asyncio.sleep(STATUS_INTERVAL_S)
            error = running.exception() if not running.cancelled() else None
            self._post_state("pub", "failed", endpoint, str(error))
            self._problem(f"the embedded publisher stopped: {error}")
        finally:
            self.publisher = None

    def _on_published(self, event: ChangeEvent) -> None:
        """Called by the publisher for each event; hands them to the app ~30 times a second."""
        self._pending_events.append(event)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(FLUSH_INTERVAL_S, self._flush_published)

    def _flush_published(self) -> None:
        self._flush_handle = None
        events, self._pending_events = self._pending_events, []
        if events and self._app is not None:
            self.app.post_message(EventsPublished(events))

    def publish(self, file: str, event: str, dest: str | None = None) -> None:
        if self.publisher is None:
            self._problem("publishing by hand needs the embedded publisher", "warning")
            return
        try:
            self.publisher.publish(file, event, dest=dest)
        except RuntimeError as exc:
            self._problem(f"could not publish: {exc}")
