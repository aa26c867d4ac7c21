"""A recording played in this process, for pilot tests and pictures of `zmqtui --open`: the
playback (`zmqtui.services.playback.Playback`) feeds `LocalFeed`'s streams, and every command
is answered at once with the position and the views, as the playback bridge would."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import msgpack
from local_feed import LocalFeed
from textual.app import App

from zmqtui.protocol import ChangeEvent
from zmqtui.recording import RecordedFeed, RecordingWriter
from zmqtui.services.ingest import Feed
from zmqtui.services.playback import Playback, index_recording, recorded_feeds
from zmqtui.timeline import NS_PER_MS, NS_PER_S, Target
from zmqtui.topicstats import TopicsQuery, TopicStats
from zmqtui.tui.backend import NO_SOCKETS, Endpoints
from zmqtui.tui.messages import ConnectionChanged, PlaybackPositioned, TopicsViewed

START_NS = 1_767_225_600 * NS_PER_S
"""2026-01-01 00:00:00 UTC: the recording's start."""
FILES = ("docs/intro.md", "src/app.py", "src/util.py", "README.md", "data/target.txt")


def write_recording(path: Path, count: int = 40) -> Path:
    """A fixed recording: a watcher's change events every 0.5 s, a market-data message in
    msgpack every 5th, and one text line with markup and an escape in it."""
    feeds = [RecordedFeed("fs", "tcp://127.0.0.1:60400")]
    seq = 0
    with RecordingWriter(path, feeds, start_ns=START_NS) as writer:
        for n in range(1, count + 1):
            at = START_NS + n * 500 * NS_PER_MS
            if n % 5 == 0:
                frames = [b"md.AAPL", msgpack.packb({"bid": 180 + n / 100, "n": n})]
            elif n == 13:
                frames = [b"[bold]not json[/bold] \x1b[31m"]
            else:
                seq += 1
                kind = ("modified", "created", "deleted")[n % 3]
                event = ChangeEvent(
                    FILES[n % len(FILES)], at // NS_PER_MS - 2, kind, seq, "5f3a9c", 4100
                )
                frames = [event.encode()]
            writer.write(at + 3 * NS_PER_MS, "fs", frames)
    return path


class LocalPlayback(LocalFeed):
    """`PlaybackBackend` in this process; `clock` is the playback's (tests move it)."""

    embedded = False
    endpoints = Endpoints()
    watch_path = None

    def __init__(self, recording: Path, clock: Callable[[], float] = lambda: 0.0) -> None:
        super().__init__()
        self.app: App | None = None
        self.recording = recording
        index = index_recording(recording)
        self.topic_stats = TopicStats()
        self.feeds = {
            f.name: Feed(f, self.streams.values(), self.topic_stats) for f in recorded_feeds(index)
        }
        self.playback = Playback(recording, index, self._take, self._restart, clock=clock)

    def _take(self, feed: str, frames: Sequence[bytes], received_ns: int) -> None:
        self.feeds[feed].take(list(frames), received_ns)

    def _restart(self) -> None:
        self.topic_stats.clear()
        for stream in self.streams.values():
            stream.restart()

    def start(self, app: App) -> None:
        self.app = app
        endpoint = next(iter(self.feeds.values())).endpoint
        for socket in ("pub", "sub"):
            app.post_message(ConnectionChanged(socket, "recorded", endpoint))
        for socket, why in NO_SOCKETS.items():
            app.post_message(ConnectionChanged(socket, "off", None, why))
        self.moved()

    def moved(self) -> None:
        """Take in what is due, then tell the position and the views (a test that moved the
        clock calls it, as the engine's loop would)."""
        while self.playback.advance():
            pass
        assert self.app is not None, "not started"
        self.app.post_message(PlaybackPositioned(self.playback.report()))
        for stream in self.queries:
            self._answer(stream)

    def topics(self, query: TopicsQuery | None) -> None:
        if query is not None and self.app is not None:
            self.app.post_message(TopicsViewed(self.topic_stats.view(query)))

    async def stop(self) -> None:
        self.playback.close()

    def go(self, target: Target) -> None:
        self.playback.go(target)
        self.moved()

    def step(self, count: int) -> None:
        self.playback.step(count)
        self.moved()

    def toggle_play(self) -> None:
        self.playback.toggle()
        self.moved()

    def change_speed(self, factor: float) -> None:
        self.playback.set_speed(self.playback.speed * factor)
        self.moved()

    def set_prefixes(self, prefixes: Sequence[str]) -> None:
        self.streams["sub"].set_prefixes(prefixes)
        for feed in self.feeds.values():
            feed.route(self.streams.values())
        self.playback.rewind()
        self.moved()

    def publish(self, file: str, event: str, dest: str | None = None) -> None:
        raise AssertionError("a recording publishes nothing")

    def send_request(
        self, path: str, count: int, concurrency: int, send_id: int | None = None
    ) -> None:
        raise AssertionError("a recording sends no request")

    def cancel_send(self, send_id: int) -> None:
        pass

    def control(self, command: str, **args: int) -> None:
        raise AssertionError("a recording has no cluster")

    def restart_cluster(self) -> None:
        raise AssertionError("a recording has no cluster")
