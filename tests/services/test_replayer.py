"""The replayer in-process (inproc, a thread): timing, filters, loops, stops, bad lines."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import zmq

from zmqtui.recording import RecordedFeed, RecordingWriter
from zmqtui.services.replayer import Replayer, ReplayProgress

MS = 1_000_000
TIMEOUT_MS = 5000


def recording(path: Path, messages: list[tuple[int, str, list[bytes]]]) -> Path:
    with RecordingWriter(path, [RecordedFeed("a"), RecordedFeed("b")]) as writer:
        for message in messages:
            writer.write(*message)
    return path


class Running:
    """A replayer on its own thread, with a SUB on the same context subscribed to it."""

    def __init__(self, ctx: zmq.Context, path: Path, endpoint: str, **options) -> None:
        self.notes: list[str] = []
        self.replayer = Replayer(
            ctx, path, endpoint, wait_subscribers=1, on_note=self.notes.append, **options
        )
        self.replayer.open()
        self.result: ReplayProgress | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.subscribe(b"")
        self.sub.connect(endpoint)

    def _run(self) -> None:
        self.result = self.replayer.run()

    def receive(self, count: int) -> list[tuple[float, list[bytes]]]:
        got = []
        for _ in range(count):
            assert self.sub.poll(TIMEOUT_MS), f"{len(got)} of {count}; notes: {self.notes}"
            got.append((time.monotonic(), self.sub.recv_multipart()))
        return got

    def finish(self) -> ReplayProgress:
        self.thread.join(timeout=TIMEOUT_MS / 1000)
        assert not self.thread.is_alive()
        self.replayer.close()
        self.sub.close()
        assert self.result is not None
        return self.result


def test_original_timing_scaled_by_speed(ctx, tmp_path):
    path = recording(
        tmp_path / "r.jsonl", [(0, "a", [b"1"]), (200 * MS, "a", [b"2"]), (400 * MS, "b", [b"3"])]
    )
    running = Running(ctx, path, "inproc://timed", speed=2.0)
    got = running.receive(3)
    assert [frames for _, frames in got] == [[b"1"], [b"2"], [b"3"]]
    assert got[2][0] - got[0][0] >= 0.15  # 0.4 s recorded, twice as fast
    progress = running.finish()
    assert progress.sent == 3 and progress.loops == 1 and not progress.stopped
    assert progress.position_s == 0.4
    assert running.notes == ["waiting for 1 subscriber"]


def test_only_the_topics_and_feeds_asked_for(ctx, tmp_path):
    path = recording(
        tmp_path / "r.jsonl",
        [
            (0, "a", [b"md.A", b"1"]),
            (1, "a", [b"log", b"2"]),
            (2, "b", [b"md.B", b"3"]),
            (3, "a", [b"md.C"]),
        ],
    )
    running = Running(ctx, path, "inproc://filtered", speed=None, topics=[b"md."], feeds=["a"])
    assert [frames for _, frames in running.receive(2)] == [[b"md.A", b"1"], [b"md.C"]]
    assert running.finish().sent == 2


def test_a_loop_runs_until_stopped(ctx, tmp_path):
    path = recording(tmp_path / "r.jsonl", [(0, "a", [b"x"]), (1, "a", [b"y"])])
    running = Running(ctx, path, "inproc://looped", speed=None, loop=True)
    assert [frames for _, frames in running.receive(6)] == [[b"x"], [b"y"]] * 3
    running.replayer.stop()
    progress = running.finish()
    assert progress.stopped and progress.loops >= 3


def test_a_malformed_line_is_skipped_and_told(ctx, tmp_path):
    path = recording(tmp_path / "r.jsonl", [(0, "a", [b"x"]), (1, "a", [b"y"])])
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[1], "{broken", lines[2]]) + "\n")
    running = Running(ctx, path, "inproc://malformed", speed=None)
    assert [frames for _, frames in running.receive(2)] == [[b"x"], [b"y"]]
    progress = running.finish()
    assert progress.malformed == 1 and progress.sent == 2
    assert any("line 3: not JSON" in note for note in running.notes)


def test_stopped_while_waiting_for_subscribers(ctx, tmp_path):
    path = recording(tmp_path / "r.jsonl", [(0, "a", [b"x"])])
    replayer = Replayer(ctx, path, "inproc://nobody", wait_subscribers=2)
    replayer.open()
    thread = threading.Thread(target=replayer.run, daemon=True)
    thread.start()
    replayer.stop()
    thread.join(timeout=2)
    assert not thread.is_alive() and replayer.progress.stopped and replayer.progress.sent == 0
    replayer.close()
