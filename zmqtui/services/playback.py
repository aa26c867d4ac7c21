"""Playback: a recording fed into the ingest engine up to a time position, instead of a socket.

`zmqtui --open FILE` shows a recording with the live monitor's panes, filters and views: the
same `Engine` (`zmqtui.services.ingest`) keeps, filters, views and exports the messages, and a
`Playback` hands it the recording's messages up to the position the user chose. Going forward
takes the next messages from the file as it streams; going back starts the streams again from
the beginning (a large recording is read again up to the position).

`index_recording` reads the whole file once before the screen opens: every line is checked
(a malformed one is an error naming its line) and each message's receive time is kept, 8 bytes
a message, so that a time finds its message and "N of M" is known. The messages themselves are
read only in the engine's process, as the position reaches them.
"""

from __future__ import annotations

import bisect
import io
import math
import os
import pickle
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

import zmq
import zmq.asyncio
import zstandard

from zmqtui.config import DecoderPairs, FeedConfig
from zmqtui.feedmeta import MetaReader
from zmqtui.recording import Header, Recorded, RecordingError, RecordingReader
from zmqtui.services.ingest import CAPACITY, Engine, Feed, IngestProcess, StreamSpec, run_engine
from zmqtui.timeline import MAX_SPEED, MIN_SPEED, NS_PER_S, Position, Target

MOVE_CHUNK = 20_000
"""Most messages taken in before the engine looks at its commands again (a long seek goes on
over several rounds, answering the screen between them)."""

CHECKPOINT_EVERY = 50_000
"""Messages between the states kept to go back from: going back takes in at most this many
again, not every message from the start. A state is what the streams hold (compressed, a few
hundred kB for 10,000 small messages a stream)."""

POSITION_INTERVAL_S = 0.05
"""While playing, the position is reported at most this often."""

IDLE_POLL_MS = 100


@dataclass(frozen=True, slots=True)
class RecordingIndex:
    """What opening a recording needs to know before reading its messages: its header and
    every message's receive time, in file order."""

    header: Header
    times: array
    """Receive times in ns (`array('q')`), one per message."""
    unnamed_feeds: tuple[str, ...] = ()
    """Feeds its messages name that its header does not."""

    @property
    def total(self) -> int:
        return len(self.times)


def index_recording(path: str | os.PathLike[str]) -> RecordingIndex:
    """Read a recording through once, checking every line; `RecordingError` names the first
    malformed one (its line number) or what is wrong with the file."""
    times = array("q")
    add = times.append
    seen: set[str] = set()
    with RecordingReader(path) as reader:
        for message in reader:
            add(message.received_ns)
            seen.add(message.feed)
        named = {feed.name for feed in reader.header.feeds}
        return RecordingIndex(reader.header, times, tuple(sorted(seen - named)))


def recorded_feeds(index: RecordingIndex, decoders: DecoderPairs = ()) -> list[FeedConfig]:
    """The feeds the engine takes a recording's messages in as: those its header names, then
    those only its messages name (`decoders`: the `[decoders]` table). One at least, so that
    the panes have a feed to show."""
    feeds = [
        FeedConfig(f.name, f.endpoint or f.name, f.subscriptions, f.topic_rule, decoders)
        for f in index.header.feeds
    ]
    feeds += [FeedConfig(name, name, decoders=decoders) for name in index.unnamed_feeds]
    return feeds or [FeedConfig("recording", "recording", decoders=decoders)]


class Playback:
    """Moves a recording's position: hands `take` the messages up to it, in order.

    Commands set where to go (`seek`, `seek_time`, `step`, `play`, `pause`, `set_speed`);
    `advance` does the work, at most `limit` messages a call, so the caller stays responsive.
    Going back calls `restart` (the caller forgets what it took) and reads from the start; or,
    with `save` and `load`, takes the caller back to the state it had at the nearest
    checkpoint before (one every `checkpoint_every` messages) and reads on from there.

    Args:
        path: the recording.
        index: its header and receive times (`index_recording`).
        take: called with each message's feed name, frames and receive time.
        restart: called before the messages are taken again from the first.
        clock: monotonic seconds (tests give a fake one).
        save: the caller's state after the messages taken so far (None: not now).
        load: puts the caller back in a state `save` gave.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        index: RecordingIndex,
        take: Callable[[str, Sequence[bytes], int], None],
        restart: Callable[[], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        save: Callable[[], bytes | None] | None = None,
        load: Callable[[bytes], None] | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        self.path = os.fspath(path)
        self.save = save
        self.load = load
        self.checkpoint_every = checkpoint_every
        self._checkpoints: dict[int, bytes] = {}
        """The caller's state (`save`) after so many messages."""
        self.index = index
        self.times = index.times
        self.take = take
        self.restart = restart
        self.clock = clock
        self.position = 0
        """Messages taken so far."""
        self.target = 0
        """Messages there should be: the position once `advance` has caught up."""
        self.speed = 1.0
        self.playing = False
        self._anchor = (0.0, 0)
        """When playing began (clock) and the recording's time then (ns)."""
        self._reader: RecordingReader | None = None
        self._messages: Iterator[Recorded] = iter(())

    @property
    def total(self) -> int:
        return self.index.total

    def time_at(self, count: int) -> int:
        """The receive time of message `count` (1-based), or the recording's start for 0."""
        return self.times[count - 1] if count > 0 else self.index.header.start_ns

    def report(self) -> Position:
        return Position(
            index=self.position,
            total=self.total,
            time_ns=self.time_at(self.position),
            start_ns=self.index.header.start_ns,
            speed=self.speed,
            playing=self.playing,
            going_to=None if self.target == self.position or self.playing else self.target,
        )

    # --- commands: where to go ----------------------------------------------------------------

    def seek(self, count: int) -> None:
        """Go to just after message `count` (0: before the first)."""
        self.target = min(max(0, count), self.total)
        if self.playing:
            self._anchor_now()

    def seek_time(self, ns: int) -> None:
        """Go to the last message received at or before `ns`."""
        self.seek(bisect.bisect_right(self.times, ns))

    def go(self, target: Target) -> None:
        if target.kind == "message":
            self.seek(target.value)
        else:
            self.seek_time(target.value)

    def step(self, count: int) -> None:
        """Pause, and move `count` messages on (back when negative)."""
        self.pause()
        self.seek(self.target + count)

    def play(self) -> None:
        """Play from the position at `speed` times the recorded pace (at the end: from the
        start again)."""
        if not self.total:
            return
        if self.target >= self.total:
            self.target = 0
        self.playing = True
        self._anchor_now()

    def pause(self) -> None:
        if self.playing:
            self._due()
            self.playing = False

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def set_speed(self, speed: float) -> None:
        """Play at `speed` times the recorded pace (kept within `MIN_SPEED`..`MAX_SPEED`)."""
        if self.playing:
            self._due()
            self._anchor_now(self._virtual_ns())  # the pace changes from here on
        self.speed = min(max(speed, MIN_SPEED), MAX_SPEED)

    def _anchor_now(self, at_ns: int | None = None) -> None:
        """Play on from the recording's time `at_ns` (default: the target's message) now."""
        self._anchor = (self.clock(), self.time_at(self.target) if at_ns is None else at_ns)

    def _virtual_ns(self) -> int:
        """The recording's time the playing has reached."""
        started, at_ns = self._anchor
        return at_ns + round((self.clock() - started) * self.speed * NS_PER_S)

    def _due(self) -> None:
        """While playing, the target is every message whose time has come."""
        due = bisect.bisect_right(self.times, self._virtual_ns(), lo=self.target)
        self.target = due
        if due >= self.total:
            self.playing = False

    # --- the work ----------------------------------------------------------------------------

    def wait_s(self) -> float | None:
        """How long nothing needs doing: 0 while behind the target, the time to the next
        message while playing, None while paused and caught up."""
        if self.playing:
            self._due()
        if self.position != self.target:
            return 0.0
        if not self.playing:
            return None
        next_ns = self.times[self.target]
        return max(0.0, (next_ns - self._virtual_ns()) / self.speed / NS_PER_S)

    def advance(self, limit: int = MOVE_CHUNK) -> int:
        """Take up to `limit` messages towards the target (starting again from the first when
        it is behind); how many were taken. `RecordingError` when the file no longer reads
        as it did (the position stays where it got to)."""
        if self.playing:
            self._due()
        if self.target < self.position:
            self._go_back()
        count = min(self.target - self.position, limit)
        if self.save is not None:  # stop at the next checkpoint, to keep the state there
            count = min(count, self.checkpoint_every - self.position % self.checkpoint_every)
        if count <= 0:
            return 0
        if self._reader is None:
            self._open()
        take = self.take
        taken = 0
        try:
            for message in islice(self._messages, count):
                take(message.feed, message.frames, message.received_ns)
                taken += 1
        finally:
            self.position += taken
        if taken < count:
            self.target = self.position
            self.playing = False
            raise RecordingError(
                self.path, None, f"ends after {self.position:,} messages (it changed since opened)"
            )
        if self.save is not None and self.position % self.checkpoint_every == 0:
            state = self.save()
            if state is not None:
                self._checkpoints[self.position] = state
        return taken

    def _open(self) -> None:
        self._reader = RecordingReader(self.path)
        self._messages = iter(self._reader)

    def rewind(self) -> None:
        """Forget what was taken, and the checkpoints (what is taken has changed): `advance`
        takes it in again from the first message."""
        self._checkpoints.clear()
        self._start_over()

    def _start_over(self) -> None:
        self.close()
        self.restart()
        self.position = 0

    def _go_back(self) -> None:
        """To the latest checkpoint at or before the target, else to the start."""
        kept = [count for count in self._checkpoints if count <= self.target]
        if not kept or self.load is None:
            self._start_over()
            return
        count = max(kept)
        self.close()
        self.load(self._checkpoints[count])
        self._open()
        assert self._reader is not None
        if self._reader.skip(count) < count:
            self._start_over()  # the file changed: `advance` will say so
            return
        self.position = count

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._messages = iter(())


# --- the engine, fed from the file ------------------------------------------------------------


class PlaybackEngine(Engine):
    """The ingest engine with a recording in place of its socket.

    Commands besides the engine's: `("seek", count)`, `("go", Target)`, `("step", count)`,
    `("toggle",)` (play or pause), `("speed", factor)` (the speed times `factor`). Reports
    besides the engine's: `("position", Position)`, after a command and, while playing, at
    most every `POSITION_INTERVAL_S`. Changing the prefixes or the feeds a stream lists takes
    the messages in again.
    """

    def __init__(
        self,
        ctx: zmq.Context,
        control: zmq.Socket,
        path: str,
        index: RecordingIndex,
        streams: Iterable[StreamSpec],
        *,
        capacity: int = CAPACITY,
        decoders: DecoderPairs = (),
        clock: Callable[[], float] = time.monotonic,
        checkpoint_every: int = CHECKPOINT_EVERY,
    ) -> None:
        feeds = recorded_feeds(index, decoders)
        super().__init__(ctx, control, feeds, streams, capacity=capacity)
        for feed in self.feeds:
            feed.state = "recorded"  # no socket: what the feeds line and frame title say
        self._named = {feed.name: feed for feed in self.feeds}
        self._shared: dict[int, object] = {}
        """What checkpoints keep by reference (`_StatePickler`)."""
        self._compressor = zstandard.ZstdCompressor(level=1)
        self.playback = Playback(
            path,
            index,
            self._take,
            self._restart,
            clock=clock,
            save=self._save,
            load=self._load,
            checkpoint_every=checkpoint_every,
        )
        self._reported: Position | None = None
        self._reported_at = 0.0
        self._commanded = False

    def _take(self, name: str, frames: Sequence[bytes], received_ns: int) -> None:
        feed = self._named.get(name)
        if feed is None:  # a feed the header does not name
            feed = Feed(FeedConfig(name, name), self.streams.values(), self.topic_stats)
            feed.state = "recorded"
            self._named[name] = feed
            self.feeds.append(feed)
        feed.take(list(frames), received_ns)
        self.topic_stats.sample(received_ns)  # the topics' rates as they were recorded

    def _restart(self) -> None:
        self.topic_stats.clear()
        for stream in self.streams.values():
            stream.restart()
        for feed in self.feeds:
            feed.received = 0

    def _save(self) -> bytes | None:
        """The streams', feeds' and topic counts' state, to come back to instead of starting
        again from the first message; None while recording (a feed holds the open file)."""
        if self.recording is not None:
            return None
        buffer = io.BytesIO()
        _StatePickler(buffer, self._shared).dump((self.streams, self.feeds, self.topic_stats))
        return self._compressor.compress(buffer.getvalue())

    def _load(self, state: bytes) -> None:
        """Back to a state `_save` kept, with the filters the user has now; each stream's
        generation moves on, so that the screen shows what changed."""
        before = {name: (s.generation, s.filter.expression) for name, s in self.streams.items()}
        pickled = zstandard.ZstdDecompressor().decompress(state)
        loaded = _StateUnpickler(io.BytesIO(pickled), self._shared).load()
        self.streams, self.feeds, self.topic_stats = loaded
        self._named = {feed.name: feed for feed in self.feeds}
        for feed in self.feeds:
            feed.recording = self.recording  # ctrl+r goes on recording what is taken in
        for name, stream in self.streams.items():
            generation, expression = before.get(name, (0, ""))
            if stream.filter.expression != expression:
                stream.set_filter(expression)
            stream.generation = max(stream.generation, generation) + 1

    def run(self, parent: int | None = None) -> None:
        """Until told to stop (or, with `parent`, a file descriptor, until it closes)."""
        try:
            self._run(parent)
        finally:
            self.playback.close()

    def _run(self, parent: int | None) -> None:
        for feed in self.feeds:
            self._send("state", feed.name, feed.state, feed.endpoint, "")
        poller = zmq.Poller()
        poller.register(self.control, zmq.POLLIN)
        if parent is not None:
            poller.register(parent, zmq.POLLIN)
        self._report(force=True)
        while self._running:
            wait = self.playback.wait_s()
            timeout = IDLE_POLL_MS if wait is None else min(IDLE_POLL_MS, math.ceil(wait * 1000))
            ready = dict(poller.poll(timeout))
            if self.control in ready:
                self._answer()
            if parent is not None and parent in ready and not os.read(parent, 4096):
                return  # the screen's process is gone
            try:
                self.playback.advance()
            except RecordingError as exc:
                self._send("problem", str(exc), "error")
            self._report()

    def _report(self, *, force: bool = False) -> None:
        position = self.playback.report()
        if position == self._reported:
            return
        now = time.monotonic()
        hurried = not (force or self._commanded) and position.playing
        if hurried and now - self._reported_at < POSITION_INTERVAL_S:
            return
        self._commanded = False
        self._reported, self._reported_at = position, now
        self._send("position", position)

    # --- commands besides the engine's (`("name", *args)` -> `command_name(*args)`) --------

    def command_seek(self, count: int) -> None:
        self.playback.seek(count)
        self._commanded = True

    def command_go(self, target: tuple[Any, ...]) -> None:
        self.playback.go(Target(*target))
        self._commanded = True

    def command_step(self, count: int) -> None:
        self.playback.step(count)
        self._commanded = True

    def command_toggle(self) -> None:
        self.playback.toggle()
        self._commanded = True

    def command_speed(self, factor: float) -> None:
        self.playback.set_speed(self.playback.speed * factor)
        self._commanded = True

    def command_prefixes(self, stream: str, prefixes: tuple[str, ...]) -> None:
        super().command_prefixes(stream, prefixes)
        self.playback.rewind()  # what the stream selects, from the start again

    def command_listed_feeds(self, stream: str, feeds: tuple[str, ...] | None) -> None:
        super().command_listed_feeds(stream, feeds)
        self.playback.rewind()  # the feeds it now lists, from the start again


class _StatePickler(pickle.Pickler):
    """Pickles an engine's state for a checkpoint; what a feed derives from its config and
    never changes (its meta reader, whose msgspec decoders do not pickle) is kept by
    reference, in `shared`."""

    def __init__(self, file: IO[bytes], shared: dict[int, object]) -> None:
        super().__init__(file, pickle.HIGHEST_PROTOCOL)
        self.shared = shared

    def persistent_id(self, obj: object) -> int | None:
        if isinstance(obj, MetaReader):
            self.shared[id(obj)] = obj
            return id(obj)
        return None


class _StateUnpickler(pickle.Unpickler):
    """Unpickles what `_StatePickler` pickled, with the same `shared`."""

    def __init__(self, file: IO[bytes], shared: dict[int, object]) -> None:
        super().__init__(file)
        self.shared = shared

    def persistent_load(self, pid: Any) -> object:
        return self.shared[pid]


def _serve_playback(
    ctx: zmq.Context, pair: zmq.Socket, settings: tuple[Any, ...], parent: int | None
) -> None:
    path, index, specs, capacity, decoders = settings
    engine = PlaybackEngine(ctx, pair, path, index, specs, capacity=capacity, decoders=decoders)
    pair.send(pickle.dumps(("ready",)))
    engine.run(parent)


class PlaybackProcess(IngestProcess):
    """Runs a `PlaybackEngine` for a recording in a child process (or a thread), from
    asyncio, as `IngestProcess` runs the live one."""

    module = __name__
    serve = staticmethod(_serve_playback)

    def __init__(
        self,
        ctx: zmq.asyncio.Context,
        path: str | os.PathLike[str],
        index: RecordingIndex,
        streams: Iterable[StreamSpec],
        *,
        capacity: int = CAPACITY,
        decoders: DecoderPairs = (),
        thread: bool = False,
    ) -> None:
        streams = tuple(streams)
        feeds = recorded_feeds(index, decoders)
        super().__init__(ctx, feeds, streams, capacity=capacity, thread=thread)
        self.settings = (os.fspath(path), index, streams, capacity, decoders)


def _main(control: str) -> None:
    """The child process: the settings come on stdin (then the parent's CURVE profile, which a
    recording does not need)."""
    *settings, _profile = pickle.load(sys.stdin.buffer)
    run_engine(control, tuple(settings), parent=sys.stdin.fileno(), serve=_serve_playback)


if __name__ == "__main__":
    _main(sys.argv[1])
