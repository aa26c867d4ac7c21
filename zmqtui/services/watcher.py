"""Watch files and directories and publish a change event for each change (zmq-watcher-pub.js).

The book's `fs.watch` loses a file the first time an editor saves it by renaming a new file
over it, and dies with its directory. Here a watched file is followed through its parent
directory (filtered by name), so atomic saves, backup-rename saves and delete-then-recreate all
keep being seen; a watched directory that disappears is re-armed when it comes back (its
existence is polled) and what it holds by then is published as created; one removed with
everything in it (`rm -rf`) has each entry's deletion published, its watch kept until it has
delivered them. Paths given that
overlap (a file and its directory, a directory inside a recursively watched one, one path under
two spellings) share one watch, and each change is published once, under the most specific
path given. watchdog runs handlers on its observer thread: ours only hand each event to the
event loop, where everything else happens, and a failure there is logged, never fatal.

Events go out on an XPUB socket, so the publisher sees who subscribes to what. Publishing never
blocks: a subscriber that falls a high-water mark behind loses messages (libzmq drops them for
that subscriber alone) and sees the gap in `seq`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import stat
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import zmq
import zmq.asyncio
from watchdog.events import DirModifiedEvent, FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver
from zmq.utils.monitor import parse_monitor_message

from zmqtui.protocol import ChangeEvent, now_ms
from zmqtui.services import sockets
from zmqtui.services.coalesce import Coalescer

logger = logging.getLogger(__name__)

COALESCE_MS = 100
"""Events for one path within this many ms of its first are merged into one trailing event."""
POLL_INTERVAL_S = 0.5
"""How often files are compared when the operating system cannot report changes."""
REARM_INTERVAL_S = 0.25
"""How often a watched directory's existence (and identity) is checked, to re-arm its watch."""
DRAIN_QUIET_S = 1.0
"""A watch whose directory went away without the watch saying so yet (it is still delivering
what happened before) is kept until it has been quiet this long."""

_KINDS = {
    "created": "created",
    "deleted": "deleted",
    "moved": "moved",
    "modified": "modified",
    "attrib": "modified",  # touch, chmod: fs.watch reports these as changes too
}


def _kind(event: FileSystemEvent) -> str | None:
    """Our name for a watchdog event, or None for events that change nothing (open, close)."""
    if isinstance(event, DirModifiedEvent):
        return None  # a directory's mtime moves with every child created or removed: noise
    return _KINDS.get(event.event_type)


@dataclass(slots=True)
class _Target:
    """One path the user asked to watch: `given` as typed, `location` resolved."""

    given: str
    location: str
    is_dir: bool
    recursive: bool = False
    """For a directory: everything below it is watched, not only its entries."""

    def name_of(self, path: str) -> str:
        """How an event path is published: relative to the watched path as the user gave it."""
        if path == self.location:
            return self.given
        base_given, base_location = (
            (self.given, self.location)
            if self.is_dir
            else (os.path.dirname(self.given), os.path.dirname(self.location))
        )
        return os.path.join(base_given, os.path.relpath(path, base_location))

    def covers(self, path: str) -> bool:
        """Whether `path` is watched as this target: the file itself, or inside the directory
        (an entry of it, or anything below it when recursive)."""
        if not self.is_dir:
            return path == self.location
        if self.recursive:
            return path != self.location and path.startswith(os.path.join(self.location, ""))
        return path != self.location and os.path.dirname(path) == self.location


def _specificity(target: _Target) -> tuple[bool, int]:
    """Sort key: files before directories, deeper directories before the ones they are in."""
    return (target.is_dir, -len(target.location))


def _host(target: _Target, targets: list[_Target]) -> _Target | None:
    """The outermost recursively watched directory that `target` is inside, if any: its watch
    reports `target`'s changes too, so a watch of `target`'s own would report them twice."""
    hosts = [other for other in targets if other.recursive and other.covers(target.location)]
    return min(hosts, key=lambda other: len(other.location), default=None)


def _entries(directory: str, recursive: bool) -> Iterator[str]:
    """The paths in `directory` (and below it when `recursive`), parents first, sorted by
    name; what cannot be read is skipped."""
    if recursive:
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(dirs + files):
                yield os.path.join(root, name)
        return
    try:
        with os.scandir(directory) as entries:
            names = sorted(entry.name for entry in entries)
    except OSError:
        return
    for name in names:
        yield os.path.join(directory, name)


@dataclass(eq=False, slots=True)
class _WatchedDir:
    """One directory scheduled with watchdog, serving the targets in (or at) it."""

    path: str
    recursive: bool
    targets: list[_Target]
    """The targets whose changes this watch reports, most specific first (`_specificity`)."""
    watch: ObservedWatch | None = None
    generation: int = 0
    """Counts the watches set; events from an older watch than the current one are stale."""
    identity: tuple[int, int] | None = None
    """(st_dev, st_ino) of the directory the watch was set on."""
    lost: bool = False
    """The watch reported its directory deleted; it must be set again."""
    present: bool | None = None
    """Whether the directory existed at the last check; None before the first."""
    failure: str | None = None
    """Why the last attempt to set the watch failed, so each reason is logged once."""
    last_heard: float = 0.0
    """Loop time of the last event from the current watch, or of finding its directory gone."""
    draining: bool = False
    """The directory is gone or replaced while its watch still delivers earlier events."""
    roots: list[_Target] = field(default_factory=list)
    """Targets that are this directory itself, unless the watch of a directory they are in
    reports their disappearance and return already."""

    def covering(self, path: str) -> _Target | None:
        """The most specific target `path` is watched as, if any: it names the event."""
        return next((target for target in self.targets if target.covers(path)), None)


def _make_observer() -> BaseObserver:
    """inotify's observer, or one that polls when inotify cannot be had (its limits reached)."""
    try:
        return Observer()
    except OSError as exc:
        logger.warning("cannot use inotify (%s); polling for changes instead", exc)
        return PollingObserver(timeout=POLL_INTERVAL_S)


class _HandOff(FileSystemEventHandler):
    """Runs on watchdog's observer thread: passes each event to the loop and nothing else."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, receive: Callable[..., None], *args: Any
    ) -> None:
        self._loop = loop
        self._receive = receive
        self._args = args

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._loop.call_soon_threadsafe(self._receive, *self._args, event)
        except Exception:
            # An exception escaping here would kill the observer thread and end all watching.
            logger.exception("could not hand a file system event to the publisher")


class ChangePublisher:
    """Watches paths and publishes `ChangeEvent`s on an XPUB socket until cancelled.

    Args:
        ctx: the asyncio Context the XPUB socket is made from.
        endpoint: where to bind, e.g. `tcp://127.0.0.1:60400`.
        paths: files and directories to watch. A file is published under the name given here;
            a change inside a directory under that directory's given name joined with the
            changed path relative to it (`src` + `a.txt` gives `src/a.txt`, absolute when the
            directory was given absolute). A path that does not exist yet is watched for.
        coalesce_ms: see `zmqtui.services.coalesce`; 0 publishes every event.
        public: allow a non-loopback bind.
        recursive: watch directories with everything below them, not only their entries.
    """

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        endpoint: str,
        paths: Iterable[str | os.PathLike[str]],
        *,
        coalesce_ms: float = COALESCE_MS,
        public: bool = False,
        recursive: bool = False,
    ) -> None:
        self._ctx = ctx
        self._requested_endpoint = endpoint
        self._public = public
        self._recursive = recursive
        self._dirs = self._plan(os.fspath(p) for p in paths)
        self._coalescer = Coalescer(coalesce_ms, self._emit)
        self._listeners: list[Callable[[ChangeEvent], object]] = []
        self._sock: zmq.asyncio.Socket | None = None
        self._observer: BaseObserver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seq = 0
        self.publisher_id = uuid.uuid4().hex[:12]
        """Identifies this run; subscribers see a new value as a restart."""
        self.pid = os.getpid()
        self.endpoint: str | None = None
        """The endpoint actually bound (a wildcard port resolved), once `bound` is set."""
        self.bound = asyncio.Event()
        self.published = 0
        """Events handed to the socket (including any it refused)."""
        self.dropped = 0
        """Events the socket refused outright. A subscriber over its high-water mark loses
        messages silently instead (it sees the gap in `seq`): one slow subscriber must not
        cost the others theirs, so `XPUB_NODROP` stays off."""
        self.subscribers = 0
        """Connected peers, from the socket's monitor events."""
        self.subscriptions: dict[bytes, int] = {}
        """Subscribed prefix -> number of subscriptions to it, from XPUB subscribe messages."""

    @property
    def coalescing(self) -> int:
        """Paths inside a coalescing window right now."""
        return self._coalescer.open_windows

    def add_listener(self, callback: Callable[[ChangeEvent], object]) -> None:
        """Call `callback(event)` on the loop for every event published from now on."""
        self._listeners.append(callback)

    def publish(self, file: str, event: str = "modified", **extra: Any) -> ChangeEvent:
        """Publish one event now, bypassing coalescing. Call from the loop, while `run` runs."""
        if self._sock is None:
            raise RuntimeError("the publisher is not running")
        self._seq += 1
        dest = extra.pop("dest", None)
        change = ChangeEvent(
            file=file,
            timestamp=now_ms(),
            event=event,
            seq=self._seq,
            publisher=self.publisher_id,
            pid=self.pid,
            dest=dest,
            extra=extra,
        )
        sent = self._sock.send(change.encode(), zmq.NOBLOCK)
        self.published += 1
        if sent.done() and sent.exception() is not None:  # a NOBLOCK send resolves at once
            self.dropped += 1
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                logger.exception("a change listener failed")
        return change

    async def run(self) -> None:
        """Bind, watch and publish until cancelled; then stop watching and close the socket."""
        self._loop = asyncio.get_running_loop()
        sock = self._ctx.socket(zmq.XPUB)
        monitor: zmq.asyncio.Socket | None = None
        try:
            sockets.configure(sock)
            sock.setsockopt(zmq.XPUB_VERBOSER, 1)  # every subscribe and unsubscribe, counted
            sock.setsockopt(zmq.XPUB_NODROP, 0)  # a slow subscriber loses messages; we never wait
            self.endpoint = sockets.bind(sock, self._requested_endpoint, public=self._public)
            monitor = sock.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
            sockets.configure(monitor)
            self._sock = sock
            self._observer = _make_observer()
            self._observer.start()
            for watched in self._dirs:
                self._check(watched)
            self.bound.set()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._count_subscriptions(sock))
                tasks.create_task(self._count_subscribers(monitor))
                tasks.create_task(self._keep_armed())
        finally:
            self._stop_observer()
            if self._sock is not None:
                self._coalescer.flush()
            self._sock = None
            if monitor is not None:
                with contextlib.suppress(zmq.ZMQError):
                    sock.disable_monitor()
                monitor.close(linger=0)
            sock.close(linger=0)

    # --- watching -------------------------------------------------------------------------

    def _plan(self, paths: Iterable[str]) -> list[_WatchedDir]:
        """Group the targets by the directory watchdog must watch for them: one watch per
        directory, none inside a recursive one (a file is watched through its directory)."""
        targets = []
        for given in dict.fromkeys(paths):
            location = os.path.realpath(given)
            is_dir = os.path.isdir(location)
            targets.append(_Target(given, location, is_dir, is_dir and self._recursive))
        targets.sort(key=_specificity)
        by_dir: dict[tuple[str, bool], _WatchedDir] = {}
        for target in targets:
            host = _host(target, targets)
            if host is not None:
                key = (host.location, True)
            elif target.is_dir:
                key = (target.location, target.recursive)
            else:
                key = (os.path.dirname(target.location), False)
            watched = by_dir.setdefault(key, _WatchedDir(key[0], key[1], []))
            watched.targets.append(target)
            if (
                target.location == watched.path
                and not any(other.covers(target.location) for other in targets)
                and not any(root.location == target.location for root in watched.roots)
            ):  # the directory itself, once, however many spellings name it
                watched.roots.append(target)
        return list(by_dir.values())

    def _check(self, watched: _WatchedDir) -> None:
        """Arm the watch if its directory exists and the watch is missing, dead or stale."""
        try:
            info = os.stat(watched.path)
            identity = (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None
        except OSError:
            identity = None
        if (
            watched.watch is not None
            and not watched.lost
            and (identity == watched.identity or not self._drained(watched))
        ):
            return
        self._disarm(watched)
        if identity is not None:
            self._arm(watched, identity)
        self._note_presence(watched, watched.watch is not None)

    def _drained(self, watched: _WatchedDir) -> bool:
        """Whether the watch of a directory found gone or replaced has delivered all it holds.

        `rm -rf` empties a directory faster than its events come through watchdog's queues;
        unscheduling the watch then would drop the queued ones. inotify's last event for a
        watch is its directory's deletion, which marks the watch `lost`; a directory moved
        away says nothing, so a watch quiet for `DRAIN_QUIET_S` counts as drained too.
        """
        assert self._loop is not None
        now = self._loop.time()
        if not watched.draining:
            watched.draining = True
            watched.last_heard = now
        return now - watched.last_heard >= DRAIN_QUIET_S

    def _arm(self, watched: _WatchedDir, identity: tuple[int, int]) -> None:
        assert self._observer is not None and self._loop is not None
        handler = _HandOff(self._loop, self._receive, watched, watched.generation + 1)
        try:
            watched.watch = self._observer.schedule(
                handler, watched.path, recursive=watched.recursive
            )
        except OSError as exc:  # e.g. removed again since the stat; the next check retries
            if str(exc) != watched.failure:
                watched.failure = str(exc)
                log = logger.debug if exc.errno in (errno.ENOENT, errno.ENOTDIR) else logger.warning
                log("cannot watch %s (will retry): %s", watched.path, exc)
            return
        watched.failure = None
        watched.generation += 1
        watched.identity = identity
        watched.lost = False

    def _disarm(self, watched: _WatchedDir) -> None:
        if watched.watch is not None and self._observer is not None:
            with contextlib.suppress(KeyError):
                self._observer.unschedule(watched.watch)
        watched.watch = None
        watched.identity = None
        watched.draining = False

    def _note_presence(self, watched: _WatchedDir, present: bool) -> None:
        """Publish a watched directory's disappearance and return (not its initial state).

        On its return the watch is already set: what the directory holds is published as
        created, as watchdog does for a directory created inside a recursive watch, so what
        was made in it before the watch was set is not lost. (Everything in it is new at its
        path: the directory was gone.) Something made between setting the watch and this scan
        is published twice; nothing is missed.
        """
        was_present, watched.present = watched.present, present
        if was_present is None or was_present == present:
            return
        kind = "created" if present else "deleted"
        for target in watched.roots:
            self._coalescer.offer(target.given, kind)
        if not present:
            return
        for path in _entries(watched.path, watched.recursive):
            target = watched.covering(path)
            if target is not None:
                self._coalescer.offer(target.name_of(path), "created")

    async def _keep_armed(self) -> None:
        while True:
            await asyncio.sleep(REARM_INTERVAL_S)
            for watched in self._dirs:
                try:
                    self._check(watched)
                except Exception:
                    logger.exception("failed to check the watch on %s; retrying", watched.path)

    def _receive(self, watched: _WatchedDir, generation: int, event: FileSystemEvent) -> None:
        """On the loop: turn one watchdog event into events to publish."""
        if self._sock is None or generation != watched.generation:
            return  # arrived while shutting down, or from a watch replaced since
        watched.last_heard = asyncio.get_running_loop().time()
        try:
            self._translate(watched, event)
        except Exception:
            logger.exception("failed to handle %r; watching goes on", event)

    def _translate(self, watched: _WatchedDir, event: FileSystemEvent) -> None:
        kind = _kind(event)
        if kind is None:
            return
        src = os.fsdecode(event.src_path)
        if src == watched.path and kind == "deleted":
            watched.lost = True  # watchdog has stopped this watch; `_check` sets a new one
            self._note_presence(watched, False)
            return
        source = watched.covering(src)
        if kind != "moved":
            if source is not None:
                self._coalescer.offer(source.name_of(src), kind)
            return
        dest = os.fsdecode(event.dest_path)
        target = watched.covering(dest)
        if source is not None:
            named = target or source  # a watched file's backup is named like the file
            self._coalescer.offer(source.name_of(src), "moved", {"dest": named.name_of(dest)})
        if target is not None and not target.is_dir:
            # renamed onto the watched file (an atomic save): a new file took its place
            self._coalescer.offer(target.given, "created")

    def _emit(self, file: str, kind: str, details: dict[str, Any]) -> None:
        if self._sock is not None:
            self.publish(file, kind, **details)

    def _stop_observer(self) -> None:
        observer, self._observer = self._observer, None
        if observer is None:
            return
        observer.stop()
        observer.join(timeout=5)
        for watched in self._dirs:
            watched.watch = None
            watched.identity = None
            watched.present = None

    # --- counting peers and subscriptions ------------------------------------------------------

    async def _count_subscriptions(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            frames = await sock.recv_multipart()
            message = frames[0]
            if not message or message[0] not in (0, 1):
                continue
            prefix = message[1:]
            count = self.subscriptions.get(prefix, 0) + (1 if message[0] == 1 else -1)
            if count > 0:
                self.subscriptions[prefix] = count
            else:
                self.subscriptions.pop(prefix, None)

    async def _count_subscribers(self, monitor: zmq.asyncio.Socket) -> None:
        while True:
            event = parse_monitor_message(await monitor.recv_multipart())
            if event["event"] == zmq.EVENT_ACCEPTED:
                self.subscribers += 1
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self.subscribers = max(0, self.subscribers - 1)
