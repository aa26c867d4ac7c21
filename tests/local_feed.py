"""The ingest side in this process, for scripted backends: streams fed with captures a test
made, every query answered at once with a `FeedViewed`, exactly as the bridge would."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from zmqtui.captures import Capture, ViewQuery
from zmqtui.services.ingest import CAPACITY, Stream
from zmqtui.tui.messages import ExportFinished, FeedViewed


class LocalFeed:
    """Mix into a test backend: `view`, `set_filter`, `clear` and `export` of `Backend`, and
    `add` to script what arrives. Set `app` in `start`."""

    app: App | None

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.streams = {
            "sub": Stream("sub", capacity=capacity),
            "observer": Stream("observer", track=False, capacity=capacity),
        }
        self.queries: dict[str, ViewQuery] = {}

    def add(self, stream: str, captures: list[Capture]) -> None:
        """Messages arrive on `stream`."""
        for capture in captures:
            self.streams[stream].add_capture(capture)
        self._answer(stream)

    def _answer(self, stream: str) -> None:
        query = self.queries.get(stream)
        if self.app is not None and query is not None:
            self.app.post_message(FeedViewed(self.streams[stream].view(query)))

    def view(self, stream: str, query: ViewQuery) -> None:
        self.queries[stream] = query
        self._answer(stream)

    def set_filter(self, stream: str, expression: str) -> None:
        self.streams[stream].set_filter(expression)
        self._answer(stream)

    def clear(self, stream: str) -> None:
        self.streams[stream].clear()
        self._answer(stream)

    def export(self, stream: str, directory: Path, now: float) -> None:
        assert self.app is not None, "not started"
        self.app.post_message(ExportFinished(self.streams[stream].export(directory, now)))
