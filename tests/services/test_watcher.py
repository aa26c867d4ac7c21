"""The watcher: real files in a temp dir, a real SUB socket, every way an editor saves a file."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Callable

import pytest
import zmq
import zmq.asyncio
from helpers import wait_for
from watchdog.events import FileModifiedEvent

from zmqtui.protocol import ChangeEvent, decode_event
from zmqtui.services import sockets, watcher
from zmqtui.services.coalesce import Coalescer
from zmqtui.services.sockets import EndpointError
from zmqtui.services.subscriber import SequenceTracker
from zmqtui.services.watcher import ChangePublisher


class Feed:
    """A SUB socket subscribed to everything a publisher sends, the slow joiner handshake done."""

    def __init__(self, sock: zmq.asyncio.Socket) -> None:
        self.sock = sock
        self.seen: list[ChangeEvent] = []

    async def until(
        self, predicate: Callable[[ChangeEvent], bool], timeout: float = 5.0
    ) -> ChangeEvent:
        """Receive until an event matches `predicate`; every event received is kept in `seen`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self.sock.poll(remaining * 1000):
                raise AssertionError(f"no matching event within {timeout}s; last: {self.seen[-5:]}")
            event = decode_event(await self.sock.recv_multipart())
            self.seen.append(event)
            if predicate(event):
                return event


def about(file: str, *kinds: str) -> Callable[[ChangeEvent], bool]:
    return lambda event: event.file == file and (not kinds or event.event in kinds)


@pytest.fixture
async def start(actx, ipc_endpoint):
    """Starts publishers on ipc endpoints; cancels them at the end."""
    tasks: list[asyncio.Task] = []

    async def start(paths, **kwargs) -> ChangePublisher:
        publisher = ChangePublisher(actx, ipc_endpoint(f"pub{len(tasks)}"), paths, **kwargs)
        task = asyncio.create_task(publisher.run())
        tasks.append(task)
        await wait_for(lambda: publisher.bound.is_set() or task.done())
        if task.done():
            task.result()
        return publisher

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def feed(actx):
    """Connects a `Feed` to a publisher and waits until the publisher sees its subscription."""
    made: list[zmq.asyncio.Socket] = []

    async def connect(publisher: ChangePublisher) -> Feed:
        sock = actx.socket(zmq.SUB)
        made.append(sock)
        sockets.configure(sock)
        sock.connect(publisher.endpoint)
        before = publisher.subscriptions.get(b"", 0)
        sock.subscribe(b"")
        await wait_for(lambda: publisher.subscriptions.get(b"", 0) > before)
        return Feed(sock)

    yield connect
    for sock in made:
        sock.close(linger=0)


@pytest.fixture
def target(tmp_path, monkeypatch):
    """`target.txt` in a temp dir that is the working directory, so it is watched by that name."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "target.txt"
    path.write_text("first\n")
    return path


async def settle(publisher: ChangePublisher, events: Feed, marker, name: str = "") -> None:
    """Wait until every earlier change was published: write `marker` (a watched file in the
    same directory; inotify keeps order), wait for it (published as `name`, by default its
    file name), then for all windows to close."""
    marker.write_text("marker\n")
    await events.until(about(name or marker.name))
    await wait_for(lambda: publisher.coalescing == 0)


def append(path, text="more\n") -> None:
    with open(path, "a") as f:
        f.write(text)


async def change_until_seen(events: Feed, path, name: str, timeout: float = 5.0) -> None:
    """Append to `path` until its event arrives: for a watch that is being set again."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        append(path)
        try:
            await events.until(about(name), timeout=0.3)
            return
        except AssertionError:
            if loop.time() > deadline:
                raise


class TestSingleFile:
    async def test_in_place_write_is_published_under_the_given_name(self, start, feed, target):
        publisher = await start(["target.txt"])
        events = await feed(publisher)
        append(target)
        event = await events.until(about("target.txt"))
        assert event.type == "changed" and event.event == "modified"
        assert (event.seq, event.publisher, event.pid) == (1, publisher.publisher_id, os.getpid())
        assert isinstance(event.timestamp, int) and event.timestamp > 0

    async def test_atomic_save_keeps_the_file_watched(self, start, feed, target):
        publisher = await start(["target.txt"])
        events = await feed(publisher)
        temp = target.with_name(".target.txt.tmp")
        temp.write_text("saved atomically\n")
        os.replace(temp, target)
        await events.until(about("target.txt", "created"))
        append(target)  # the watched inode was replaced: the new one must be watched too
        await events.until(about("target.txt", "modified"))
        assert all(e.file == "target.txt" for e in events.seen)

    async def test_vim_style_save_keeps_the_file_watched(self, start, feed, target):
        publisher = await start(["target.txt", "marker.txt"])
        events = await feed(publisher)
        backup = target.with_name("target.txt~")
        os.rename(target, backup)
        target.write_text("written by vim\n")
        backup.unlink()
        moved = await events.until(about("target.txt", "moved"))
        assert moved.dest == "target.txt~"
        await events.until(about("target.txt", "created", "modified"))
        await settle(publisher, events, target.with_name("marker.txt"))
        before = publisher.published
        append(target)
        await events.until(lambda e: e.file == "target.txt" and e.seq > before)

    async def test_delete_then_recreate(self, start, feed, target):
        publisher = await start(["target.txt", "marker.txt"])
        events = await feed(publisher)
        target.unlink()
        await events.until(about("target.txt", "deleted"))
        target.write_text("back again\n")  # created and written: merged, "created" kept
        await events.until(about("target.txt", "created"))
        await settle(publisher, events, target.with_name("marker.txt"))
        append(target)
        await events.until(about("target.txt", "modified"))

    async def test_file_missing_at_start_is_published_when_it_appears(self, start, feed, tmp_path):
        later = tmp_path / "later.txt"
        publisher = await start([later])
        events = await feed(publisher)
        later.write_text("here now\n")
        await events.until(about(str(later), "created"))

    async def test_burst_is_coalesced_into_a_few_events(self, start, feed, target):
        publisher = await start(["target.txt", "marker.txt"], coalesce_ms=200)
        events = await feed(publisher)
        writes = 100
        for i in range(writes):
            append(target, f"{i}\n")
        await settle(publisher, events, target.with_name("marker.txt"))
        everything = publisher.published
        if events.seen[-1].seq != everything:  # trailing events may follow the marker's
            await events.until(lambda e: e.seq == everything)
        burst = [e for e in events.seen if e.file == "target.txt"]
        # the leading event at once, then about one per window while the writes last
        assert 2 <= len(burst) < writes // 5, burst
        assert burst[0].event == burst[-1].event == "modified"


class TestDirectory:
    async def test_changes_inside_are_published_relative_to_the_given_name(
        self, start, feed, tmp_path, monkeypatch
    ):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "src" / "sub").mkdir(parents=True)
        publisher = await start(["src"])
        events = await feed(publisher)
        (tmp_path / "src" / "a.txt").write_text("a\n")
        await events.until(about("src/a.txt", "created"))
        os.rename(tmp_path / "src" / "a.txt", tmp_path / "src" / "b.txt")
        moved = await events.until(about("src/a.txt", "moved"))
        assert moved.dest == "src/b.txt"
        (tmp_path / "src" / "sub" / "deep.txt").write_text("not watched: not recursive\n")
        (tmp_path / "src" / "b.txt").unlink()
        await events.until(about("src/b.txt", "deleted"))
        assert not [e for e in events.seen if "deep" in e.file]

    async def test_file_watched_also_through_its_directory_is_published_once(
        self, start, feed, tmp_path, monkeypatch
    ):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "src").mkdir()
        publisher = await start(["src", "src/a.txt"], coalesce_ms=0)
        published: list[ChangeEvent] = []
        publisher.add_listener(published.append)
        events = await feed(publisher)
        (tmp_path / "src" / "a.txt").touch()
        await settle(publisher, events, tmp_path / "src" / "marker.txt", "src/marker.txt")
        assert [e.event for e in published if e.file == "src/a.txt"] == ["created"]

    @pytest.mark.parametrize(
        ("paths", "changed", "name"),
        [
            (["src", "src/a.txt"], "src/a.txt", "src/a.txt"),  # the file also given by itself
            ([".", "src/a.txt"], "src/a.txt", "src/a.txt"),  # ... under another spelling
            (["src", "src/sub"], "src/sub/a.txt", "src/sub/a.txt"),  # a directory inside
        ],
    )
    async def test_overlapping_recursive_watches_publish_each_change_once(
        self, start, feed, tmp_path, monkeypatch, paths, changed, name
    ):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "src" / "sub").mkdir(parents=True)
        (tmp_path / changed).write_text("first\n")
        publisher = await start(paths, recursive=True)
        published: list[ChangeEvent] = []
        publisher.add_listener(published.append)
        events = await feed(publisher)
        append(tmp_path / changed)
        await events.until(about(name, "modified"))
        marker = os.path.join(paths[0], "marker.txt")  # named after the outermost directory
        await settle(publisher, events, tmp_path / marker, marker)
        assert [(e.file, e.event) for e in published if "marker" not in e.file] == [
            (name, "modified")
        ]

    @pytest.mark.parametrize("recursive", [False, True])
    def test_a_directory_under_several_spellings_is_watched_once(
        self, tmp_path, monkeypatch, recursive
    ):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "d").mkdir()
        (tmp_path / "alias").symlink_to(tmp_path / "d")
        publisher = ChangePublisher(
            zmq.asyncio.Context.instance(), "inproc://plan", ["d", "alias", "d/"],
            recursive=recursive,
        )  # fmt: skip
        [watched] = publisher._dirs
        assert [root.given for root in watched.roots] == ["d"]  # its own deletion: once

    async def test_directory_inside_another_is_deleted_and_created_once_each(
        self, start, feed, tmp_path, monkeypatch
    ):
        monkeypatch.chdir(tmp_path)
        (tmp_path / "src" / "sub").mkdir(parents=True)
        publisher = await start(["src", "src/sub"])
        published: list[ChangeEvent] = []
        publisher.add_listener(published.append)
        events = await feed(publisher)
        (tmp_path / "src" / "sub").rmdir()
        await events.until(about("src/sub", "deleted"))
        (tmp_path / "src" / "sub").mkdir()
        await events.until(about("src/sub", "created"))
        await change_until_seen(events, tmp_path / "src" / "sub" / "x.txt", "src/sub/x.txt")
        await settle(publisher, events, tmp_path / "src" / "marker.txt", "src/marker.txt")
        assert [e.event for e in published if e.file == "src/sub"] == ["deleted", "created"]

    async def test_recursive_watch_sees_subdirectories(self, start, feed, tmp_path):
        (tmp_path / "sub").mkdir()
        publisher = await start([tmp_path], recursive=True)
        events = await feed(publisher)
        (tmp_path / "sub" / "deep.txt").write_text("deep\n")
        await events.until(about(str(tmp_path / "sub" / "deep.txt"), "created"))

    async def test_removed_and_created_again_is_rearmed(self, start, feed, tmp_path):
        watched = tmp_path / "watched"
        watched.mkdir()
        (watched / "old.txt").write_text("old\n")
        publisher = await start([watched])
        events = await feed(publisher)
        shutil.rmtree(watched)
        await events.until(about(str(watched), "deleted"))
        watched.mkdir()
        await events.until(about(str(watched), "created"))
        (watched / "new.txt").write_text("new\n")
        await events.until(about(str(watched / "new.txt"), "created"))

    @pytest.mark.parametrize("recursive", [False, True])
    async def test_what_a_recreated_directory_holds_before_it_is_watched_is_published(
        self, start, feed, tmp_path, recursive
    ):
        watched = tmp_path / "watched"
        watched.mkdir()
        publisher = await start([watched], recursive=recursive)
        events = await feed(publisher)
        shutil.rmtree(watched)
        await events.until(about(str(watched), "deleted"))
        # no await in between: all of this happens before the watch can be set again
        (watched / "sub").mkdir(parents=True)
        (watched / "new.txt").write_text("new\n")
        (watched / "sub" / "deep.txt").write_text("deep\n")
        await events.until(about(str(watched), "created"))
        await events.until(about(str(watched / "new.txt"), "created"))
        await events.until(about(str(watched / "sub"), "created"))
        if recursive:
            await events.until(about(str(watched / "sub" / "deep.txt"), "created"))
        await settle(publisher, events, watched / "marker.txt", str(watched / "marker.txt"))
        created = [e.file for e in events.seen if e.event == "created"]
        assert len(created) == len(set(created)), created  # each once
        assert recursive or str(watched / "sub" / "deep.txt") not in created

    @pytest.mark.integration  # touch and rm -rf, as a user would
    async def test_every_file_of_a_removed_directory_is_published_deleted(
        self, start, tmp_path, monkeypatch
    ):
        monkeypatch.setattr(watcher, "REARM_INTERVAL_S", 0.01)  # looks while events still queue
        watched = tmp_path / "watched"
        watched.mkdir()
        names = [f"f{i:04}" for i in range(3000)]
        touch = await asyncio.create_subprocess_exec("touch", *names, cwd=watched)
        assert await touch.wait() == 0
        publisher = await start([watched])
        deleted: set[str] = set()
        publisher.add_listener(
            lambda e: e.event == "deleted" and deleted.add(os.path.relpath(e.file, watched))
        )
        remove = await asyncio.create_subprocess_exec("rm", "-rf", str(watched))
        assert await remove.wait() == 0  # faster than the events come through: they queue up
        await wait_for(lambda: "." in deleted, timeout=20)
        missing = {".", *names} - deleted
        assert not missing, f"{len(missing)} deletions not published, e.g. {sorted(missing)[:3]}"


class TestRobustness:
    async def test_failure_handling_an_event_is_logged_and_watching_goes_on(
        self, start, feed, target, monkeypatch, caplog
    ):
        real_kind = watcher._kind
        failures = []

        def kind_failing_once(event):
            if not failures:
                failures.append(event)
                raise ValueError("boom")
            return real_kind(event)

        monkeypatch.setattr(watcher, "_kind", kind_failing_once)
        publisher = await start(["target.txt"])
        events = await feed(publisher)
        append(target)
        await wait_for(lambda: failures)
        append(target)
        await events.until(about("target.txt", "modified"))
        assert any("watching goes on" in r.getMessage() for r in caplog.records)

    async def test_polls_when_inotify_cannot_be_had(self, start, feed, target, monkeypatch):
        def no_inotify():
            raise OSError(24, "inotify instance limit reached")

        monkeypatch.setattr(watcher, "Observer", no_inotify)
        publisher = await start(["target.txt"])
        events = await feed(publisher)
        append(target)
        await events.until(about("target.txt", "modified"))

    def test_observer_thread_handler_never_raises(self, caplog):
        closed = asyncio.new_event_loop()
        closed.close()
        handoff = watcher._HandOff(closed, lambda *args: None, "key")
        with caplog.at_level(logging.ERROR):
            handoff.dispatch(FileModifiedEvent("/tmp/x"))  # the loop refuses: logged, not raised
        assert "could not hand" in caplog.text

    async def test_failing_listener_is_logged_and_others_still_run(
        self, start, feed, target, caplog
    ):
        publisher = await start(["target.txt"])
        events = await feed(publisher)

        def broken(event):
            raise RuntimeError("listener bug")

        heard: list[ChangeEvent] = []
        publisher.add_listener(broken)
        publisher.add_listener(heard.append)
        sent = publisher.publish("by-hand.txt", "modified", note="x")
        assert heard == [sent] and sent.extra == {"note": "x"}
        received = await events.until(about("by-hand.txt"))
        assert received.extra == {"note": "x"}
        assert "listener failed" in caplog.text

    async def test_publishing_never_blocks_on_a_subscriber_that_does_not_read(
        self, actx, start, feed, target
    ):
        publisher = await start(["target.txt"])
        events = await feed(publisher)
        flood = 5000  # well past both high-water marks (1000 + 1000)
        for i in range(flood):
            publisher.publish(f"flood-{i}")
        assert publisher.published == flood
        tracker = SequenceTracker()
        notes = []
        while not any(e.file == "after-the-flood" for e in events.seen):
            publisher.publish("after-the-flood")  # dropped too while the pipe is still full
            while await events.sock.poll(100):
                notes += tracker.observe(await events.until(lambda e: True))
        flooded = [e for e in events.seen if e.file.startswith("flood-")]
        assert len(flooded) < flood  # libzmq dropped what did not fit ...
        assert any(note.startswith("gap:") for note in notes)  # ... and the gap shows

    async def test_subscribers_and_subscriptions_are_counted(self, actx, start, target):
        publisher = await start(["target.txt"])
        first, second = actx.socket(zmq.SUB), actx.socket(zmq.SUB)
        try:
            for sock in (first, second):
                sockets.configure(sock)
                sock.connect(publisher.endpoint)
                sock.subscribe(b"abc")
            await wait_for(lambda: publisher.subscribers == 2)
            await wait_for(lambda: publisher.subscriptions == {b"abc": 2})
            first.unsubscribe(b"abc")
            first.subscribe(b"")
            await wait_for(lambda: publisher.subscriptions == {b"abc": 1, b"": 1})
            second.close(linger=0)
            await wait_for(lambda: publisher.subscribers == 1)
            await wait_for(lambda: publisher.subscriptions == {b"": 1})
        finally:
            first.close(linger=0)
            second.close(linger=0)

    async def test_endpoint_in_use_fails_clearly(self, actx, tcp_endpoint, target):
        endpoint = tcp_endpoint()
        squatter = actx.socket(zmq.PUB)
        squatter.bind(endpoint)
        try:
            publisher = ChangePublisher(actx, endpoint, [target])
            with pytest.raises(EndpointError, match="already in use"):
                await publisher.run()
            assert not publisher.bound.is_set()
            with pytest.raises(RuntimeError):
                publisher.publish("x")
        finally:
            squatter.close(linger=0)


class TestCoalescer:
    async def test_first_event_at_once_then_one_trailing_event_per_window(self):
        sent: list[tuple] = []
        coalescer = Coalescer(50, lambda *event: sent.append(event))
        coalescer.offer("a", "modified")
        assert sent == [("a", "modified", {})]  # before any await: nothing delays it
        coalescer.offer("a", "modified")
        coalescer.offer("a", "moved", {"dest": "b"})
        coalescer.offer("a", "modified")  # says less than the move: the move is kept
        coalescer.offer("c", "created")  # another path has its own window
        assert sent[-1] == ("c", "created", {})
        await wait_for(lambda: len(sent) == 3)
        assert sent[2] == ("a", "moved", {"dest": "b"})  # the latest of the merged events
        await wait_for(lambda: coalescer.open_windows == 0)
        coalescer.offer("a", "deleted")  # quiet again: at once
        assert sent[-1] == ("a", "deleted", {})
        coalescer.flush()

    def test_zero_window_sends_everything(self):
        sent: list[tuple] = []
        coalescer = Coalescer(0, lambda *event: sent.append(event))
        for _ in range(3):
            coalescer.offer("a", "modified")
        assert len(sent) == 3 and coalescer.open_windows == 0

    async def test_flush_sends_what_is_pending(self):
        sent: list[tuple] = []
        coalescer = Coalescer(10_000, lambda *event: sent.append(event))
        coalescer.offer("a", "created")
        coalescer.offer("a", "modified")
        coalescer.offer("b", "created")
        coalescer.flush()
        assert sent == [("a", "created", {}), ("b", "created", {}), ("a", "modified", {})]
        assert coalescer.open_windows == 0
