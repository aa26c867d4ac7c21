"""The filer's rules: what is served, and the error code every bad request gets."""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqtui.protocol import MAX_PATH_CHARS, ErrorReply, FileReply, decode_reply
from zmqtui.services import filer
from zmqtui.services.filer import FileRules

SECRET = "outside secret"
UNICODE_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=50)
"""Text a UTF-8 file can hold (no lone surrogates)."""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A served root with a file, a subdirectory and a sibling directory outside it."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "target.txt").write_text("hello\n")
    (root / "sub" / "nested.txt").write_text("nested ✓\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    return root


@pytest.fixture
def rules(tree: Path) -> FileRules:
    return FileRules(tree)


def ask(rules: FileRules, path: object, **extra: object) -> FileReply | ErrorReply:
    raw = rules.respond([json.dumps({"path": path, **extra}).encode()]).encode()
    return decode_reply([raw])


def assert_error(reply: FileReply | ErrorReply, code: str) -> ErrorReply:
    assert isinstance(reply, ErrorReply), reply
    assert reply.code == code, reply
    assert SECRET not in reply.message
    return reply


class TestServed:
    def test_relative_path(self, rules: FileRules):
        reply = ask(rules, "target.txt")
        assert isinstance(reply, FileReply)
        assert (reply.content, reply.pid, reply.id) == ("hello\n", os.getpid(), None)
        assert reply.timestamp > 0

    def test_book_request_gets_book_reply(self, rules: FileRules):
        wire = json.loads(rules.respond([b'{"path": "target.txt"}']).encode())
        assert set(wire) == {"content", "timestamp", "pid"}

    def test_nested_utf8_and_id_echoed(self, rules: FileRules):
        reply = ask(rules, "sub/nested.txt", id="r-1")
        assert isinstance(reply, FileReply)
        assert (reply.content, reply.id) == ("nested ✓\n", "r-1")

    @pytest.mark.parametrize("path", ["./target.txt", "sub/../target.txt", "sub//./../target.txt"])
    def test_dot_segments_inside_root(self, rules: FileRules, path: str):
        assert ask(rules, path).content == "hello\n"

    def test_absolute_path_under_root(self, rules: FileRules, tree: Path):
        assert ask(rules, str(tree / "target.txt")).content == "hello\n"

    def test_absolute_path_through_symlinked_root(self, tmp_path: Path, tree: Path):
        alias = tmp_path / "alias"
        alias.symlink_to(tree)
        rules = FileRules(alias)
        assert ask(rules, str(alias / "target.txt")).content == "hello\n"
        assert ask(rules, str(tree / "sub" / "nested.txt")).content == "nested ✓\n"

    def test_relative_root_is_taken_from_cwd_at_start(self, tree: Path, monkeypatch):
        monkeypatch.chdir(tree.parent)
        rules = FileRules("root")
        monkeypatch.chdir("/")
        assert ask(rules, "target.txt").content == "hello\n"

    def test_empty_file(self, rules: FileRules, tree: Path):
        (tree / "empty").write_bytes(b"")
        assert ask(rules, "empty").content == ""

    def test_file_of_exactly_max_bytes(self, tree: Path):
        (tree / "full").write_text("x" * 100)
        assert ask(FileRules(tree, max_bytes=100), "full").content == "x" * 100


class TestSymlinks:
    def test_link_inside_root_is_followed(self, rules: FileRules, tree: Path):
        (tree / "link").symlink_to("sub/nested.txt")
        (tree / "sub" / "up").symlink_to("../target.txt")
        assert ask(rules, "link").content == "nested ✓\n"
        assert ask(rules, "sub/up").content == "hello\n"

    def test_absolute_link_inside_root_is_followed(self, rules: FileRules, tree: Path):
        (tree / "sub" / "abs").symlink_to(tree / "target.txt")
        assert ask(rules, "sub/abs").content == "hello\n"

    def test_directory_link_inside_root(self, rules: FileRules, tree: Path):
        (tree / "dirlink").symlink_to("sub")
        assert ask(rules, "dirlink/nested.txt").content == "nested ✓\n"

    def test_chain_of_links(self, rules: FileRules, tree: Path):
        (tree / "a").symlink_to("b")
        (tree / "b").symlink_to("sub/c")
        (tree / "sub" / "c").symlink_to("nested.txt")
        assert ask(rules, "a").content == "nested ✓\n"

    @pytest.mark.parametrize(
        "target",
        ["../outside/secret.txt", "sub/../../outside/secret.txt", "ABS"],
    )
    def test_link_leading_out_is_refused(self, rules: FileRules, tree: Path, target: str):
        secret = tree.parent / "outside" / "secret.txt"
        (tree / "out").symlink_to(str(secret) if target == "ABS" else target)
        reply = assert_error(ask(rules, "out", id="x"), "OUTSIDE_ROOT")
        assert reply.id == "x"
        assert str(tree.parent) not in reply.message

    def test_directory_link_leading_out_is_refused(self, rules: FileRules, tree: Path):
        (tree / "sub" / "escape").symlink_to(tree.parent / "outside")
        assert_error(ask(rules, "sub/escape/secret.txt"), "OUTSIDE_ROOT")

    def test_link_to_device_outside_is_refused(self, rules: FileRules, tree: Path):
        (tree / "null").symlink_to("/dev/null")
        assert_error(ask(rules, "null"), "OUTSIDE_ROOT")

    def test_loop_is_not_found(self, rules: FileRules, tree: Path):
        (tree / "loop1").symlink_to("loop2")
        (tree / "loop2").symlink_to("loop1")
        assert "symbolic links" in assert_error(ask(rules, "loop1"), "NOT_FOUND").message

    def test_dangling_link_is_not_found(self, rules: FileRules, tree: Path):
        (tree / "dangling").symlink_to("nowhere.txt")
        assert_error(ask(rules, "dangling"), "NOT_FOUND")


class TestSwappedBetweenCheckAndOpen:
    """A path changed under the walk after `lstat`, before `open`: it must not lead out."""

    def swap_after_lstat(self, monkeypatch, name: str, swap) -> None:
        real_stat = os.stat
        done = []

        def stat_then_swap(path, *args, **kwargs):
            result = real_stat(path, *args, **kwargs)
            if path == name and not done:
                done.append(True)
                swap()
            return result

        monkeypatch.setattr(os, "stat", stat_then_swap)

    def test_file_swapped_for_outside_link(self, rules: FileRules, tree: Path, monkeypatch):
        victim = tree / "target.txt"

        def swap():
            victim.unlink()
            victim.symlink_to(tree.parent / "outside" / "secret.txt")

        self.swap_after_lstat(monkeypatch, "target.txt", swap)
        assert_error(ask(rules, "target.txt"), "OUTSIDE_ROOT")

    def test_directory_swapped_for_outside_link(self, rules: FileRules, tree: Path, monkeypatch):
        sub = tree / "sub"
        (tree.parent / "outside" / "nested.txt").write_text(SECRET)

        def swap():
            sub.rename(tree / "old-sub")
            sub.symlink_to(tree.parent / "outside")

        self.swap_after_lstat(monkeypatch, "sub", swap)
        assert_error(ask(rules, "sub/nested.txt"), "OUTSIDE_ROOT")

    def test_file_swapped_for_fifo_does_not_block(self, rules: FileRules, tree: Path, monkeypatch):
        victim = tree / "target.txt"

        def swap():
            victim.unlink()
            os.mkfifo(victim)

        self.swap_after_lstat(monkeypatch, "target.txt", swap)
        assert "FIFO" in answer_within(rules, "target.txt", "NOT_A_FILE").message

    def test_file_flipping_under_load_never_leaks(self, rules: FileRules, tree: Path):
        """A real race: a thread flips `flip` between a regular file and an outside link."""
        secret = tree.parent / "outside" / "secret.txt"
        flip, staging = tree / "flip", tree / "staging"
        stop = threading.Event()

        def flipper():
            while not stop.is_set():
                staging.unlink(missing_ok=True)
                os.link(tree / "target.txt", staging)
                staging.replace(flip)
                staging.symlink_to(secret)
                staging.replace(flip)

        thread = threading.Thread(target=flipper)
        thread.start()
        seen: Counter[str] = Counter()
        deadline = time.monotonic() + 20
        try:
            while min(seen["ok"], seen["OUTSIDE_ROOT"]) < 50 and time.monotonic() < deadline:
                reply = ask(rules, "flip")
                if isinstance(reply, FileReply):
                    assert reply.content == "hello\n"
                    seen["ok"] += 1
                else:
                    seen[assert_error(reply, reply.code).code] += 1
        finally:
            stop.set()
            thread.join(timeout=10)
        assert set(seen) <= {"ok", "OUTSIDE_ROOT", "NOT_FOUND"}, seen
        assert min(seen["ok"], seen["OUTSIDE_ROOT"]) >= 50, seen


def answer_within(rules: FileRules, path: str, code: str, timeout: float = 10.0) -> ErrorReply:
    """Answer on a thread so a blocking open fails the test instead of hanging it."""
    replies: list[FileReply | ErrorReply] = []
    thread = threading.Thread(target=lambda: replies.append(ask(rules, path)), daemon=True)
    thread.start()
    thread.join(timeout)
    assert replies, f"answering {path!r} blocked"
    return assert_error(replies[0], code)


class TestRefused:
    @pytest.mark.parametrize(
        "path",
        ["../outside/secret.txt", "sub/../../outside/secret.txt", "..", "sub/../.."],
    )
    def test_traversal(self, rules: FileRules, path: str):
        assert_error(ask(rules, path), "OUTSIDE_ROOT")

    def test_absolute_outside_never_echoed(self, rules: FileRules, tree: Path):
        for path in ("/etc/passwd", str(tree.parent / "outside" / "secret.txt")):
            reply = assert_error(ask(rules, path, id="abs"), "OUTSIDE_ROOT")
            assert path not in reply.message and "/etc" not in reply.message
            assert reply.id == "abs"

    def test_dotdot_may_not_climb_out_and_back(self, rules: FileRules, tree: Path):
        assert_error(ask(rules, f"../{tree.name}/target.txt"), "OUTSIDE_ROOT")

    def test_prefix_sibling_is_outside(self, tmp_path: Path, tree: Path):
        sibling = tmp_path / "root-evil"
        sibling.mkdir()
        (sibling / "x.txt").write_text(SECRET)
        assert_error(ask(FileRules(tree), str(sibling / "x.txt")), "OUTSIDE_ROOT")

    @pytest.mark.parametrize("path", ["missing.txt", "sub/missing.txt", "nodir/x", "target.txt/x"])
    def test_not_found(self, rules: FileRules, path: str):
        reply = assert_error(ask(rules, path, id=7), "NOT_FOUND")
        assert reply.id == "7"

    @pytest.mark.parametrize("path", ["sub", "sub/", ".", "sub/..", "/ROOT"])
    def test_directory(self, rules: FileRules, tree: Path, path: str):
        path = path.replace("/ROOT", str(tree))
        assert "directory" in assert_error(ask(rules, path), "NOT_A_FILE").message

    @pytest.mark.parametrize(
        "path", ["target.txt/", "target.txt/.", "sub/nested.txt//", "link/", "/ROOT/target.txt/"]
    )
    def test_a_file_named_with_a_trailing_slash_is_not_served(
        self, rules: FileRules, tree: Path, path: str
    ):
        """`a.txt/` names a directory (open(2) says ENOTDIR); it is not `a.txt`."""
        (tree / "link").symlink_to("target.txt")
        reply = assert_error(ask(rules, path.replace("/ROOT", str(tree))), "NOT_A_FILE")
        assert "names a directory, but is a file" in reply.message
        assert str(tree) not in reply.message

    def test_fifo_does_not_block(self, rules: FileRules, tree: Path):
        os.mkfifo(tree / "fifo")
        answer_within(rules, "fifo", "NOT_A_FILE")

    def test_unix_socket(self, rules: FileRules, tree: Path, tmp_path: Path):
        import socket

        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(tree / "sock"))
            assert "socket" in assert_error(ask(rules, "sock"), "NOT_A_FILE").message

    @pytest.mark.parametrize("name", ["null", "zero", "urandom"])
    def test_devices(self, name: str):
        reply = answer_within(FileRules("/dev"), name, "NOT_A_FILE")
        assert "device" in reply.message

    def test_too_large_never_read_whole(self, tree: Path, monkeypatch):
        (tree / "big").write_text("x" * 101)
        with open(tree / "sparse", "wb") as sparse:
            sparse.truncate(1 << 40)
        reads = []
        real_read = os.read
        monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
        rules = FileRules(tree, max_bytes=100)
        assert_error(ask(rules, "big"), "TOO_LARGE")
        assert_error(ask(rules, "sparse"), "TOO_LARGE")
        assert reads == []  # st_size already told

    def test_size_that_lies_reads_at_most_limit_plus_one(self, monkeypatch):
        reads = []
        real_read = os.read

        def counting_read(fd, n):
            data = real_read(fd, n)
            reads.append(len(data))
            return data

        monkeypatch.setattr(os, "read", counting_read)
        rules = FileRules("/proc/self", max_bytes=64)  # st_size of /proc/self/status is 0
        assert os.stat("/proc/self/status").st_size == 0
        assert_error(ask(rules, "status"), "TOO_LARGE")
        assert 0 < sum(reads) <= 65

    def test_file_growing_past_limit(self, tree: Path, monkeypatch):
        growing = tree / "growing"
        growing.write_text("x" * 10)
        real_fstat = os.fstat

        def fstat_then_grow(fd):
            result = real_fstat(fd)
            with open(growing, "a") as more:
                more.write("y" * 200)
            return result

        monkeypatch.setattr(os, "fstat", fstat_then_grow)
        assert_error(ask(FileRules(tree, max_bytes=100), "growing"), "TOO_LARGE")

    def test_a_file_is_read_in_one_read_of_its_size(self, rules: FileRules, monkeypatch):
        asked = []
        real_read = os.read
        monkeypatch.setattr(os, "read", lambda fd, n: asked.append(n) or real_read(fd, n))
        assert ask(rules, "target.txt").content == "hello\n"
        assert asked == [len("hello\n") + 1]  # not the whole limit: os.read allocates it

    @pytest.mark.parametrize(("change", "served"), [("a", "0123456789more"), ("w", "new")])
    def test_a_file_changed_since_fstat_is_read_as_it_is_now(
        self, tree: Path, monkeypatch, change: str, served: str
    ):
        changing = tree / "changing"
        changing.write_text("0123456789")
        real_fstat = os.fstat

        def fstat_then_change(fd):
            result = real_fstat(fd)
            with open(changing, change) as writer:
                writer.write("more" if change == "a" else "new")
            return result

        monkeypatch.setattr(os, "fstat", fstat_then_change)
        assert ask(FileRules(tree), "changing").content == served

    def test_a_file_whose_size_fstat_does_not_know_is_read_whole(self):
        assert os.stat("/proc/self/status").st_size == 0
        content = ask(FileRules("/proc/self"), "status").content
        assert content.startswith("Name:") and "\nPid:" in content

    def test_not_utf8(self, rules: FileRules, tree: Path):
        (tree / "bin").write_bytes(b"ok\xff\xfe")
        assert "offset 2" in assert_error(ask(rules, "bin", id="b"), "NOT_TEXT").message

    def test_truncated_multibyte_is_not_text(self, tree: Path):
        (tree / "cut").write_bytes("✓".encode()[:2])
        assert_error(ask(FileRules(tree), "cut"), "NOT_TEXT")

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file regardless of its mode")
    def test_permission_denied(self, rules: FileRules, tree: Path):
        (tree / "target.txt").chmod(0)
        assert_error(ask(rules, "target.txt", id="p"), "PERMISSION_DENIED")

    def test_permission_denied_simulated(self, rules: FileRules, monkeypatch):
        """As root the kernel never refuses, so an open that raises EACCES stands in."""
        real_open = os.open

        def refusing_open(path, flags, *args, **kwargs):
            if path == "target.txt":
                raise PermissionError(errno.EACCES, "Permission denied", path)
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refusing_open)
        reply = assert_error(ask(rules, "target.txt", id="p"), "PERMISSION_DENIED")
        assert reply.id == "p"

    def test_unexpected_error_is_internal_and_logged(self, rules: FileRules, monkeypatch, caplog):
        def failing_read(fd, n):
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "read", failing_read)
        with caplog.at_level(logging.ERROR, logger="zmqtui.services.filer"):
            reply = assert_error(ask(rules, "target.txt", id="i"), "INTERNAL")
        assert reply.id == "i"
        assert "Input/output error" in caplog.text
        monkeypatch.undo()
        assert ask(rules, "target.txt").content == "hello\n"

    def test_missing_root_is_internal(self, tmp_path: Path, caplog):
        with caplog.at_level(logging.ERROR, logger="zmqtui.services.filer"):
            assert_error(ask(FileRules(tmp_path / "gone"), "x"), "INTERNAL")
        assert "served root" in caplog.text


class TestBadRequests:
    @pytest.mark.parametrize(
        ("frames", "code"),
        [
            ([b""], "BAD_JSON"),
            ([b"not json"], "BAD_JSON"),
            ([b"\xff\xfe"], "BAD_JSON"),
            ([b"[1, 2]"], "BAD_REQUEST"),
            ([b'"target.txt"'], "BAD_REQUEST"),
            ([b"{}"], "BAD_REQUEST"),
            ([b'{"path": 3}'], "BAD_REQUEST"),
            ([b'{"path": null}'], "BAD_REQUEST"),
            ([b'{"path": ""}'], "BAD_REQUEST"),
            ([b'{"path": "a\\u0000b"}'], "BAD_REQUEST"),
            ([b'{"path": "\\ud800"}'], "BAD_REQUEST"),
            ([b'{"path": "target.txt"}', b""], "BAD_REQUEST"),
            ([b'{"path": "target.txt"}', b'{"path": "target.txt"}'], "BAD_REQUEST"),
            ([b"", b""], "BAD_REQUEST"),
            ([], "BAD_REQUEST"),
        ],
    )
    def test_code(self, rules: FileRules, frames: list[bytes], code: str):
        assert_error(decode_reply([rules.respond(frames).encode()]), code)

    def test_id_echoed_with_extra_frames(self, rules: FileRules):
        for first in (b'{"path": "target.txt", "id": "e"}', b'{"path": 1, "id": "e"}'):
            reply = assert_error(
                decode_reply([rules.respond([first, b"x"]).encode()]), "BAD_REQUEST"
            )
            assert reply.id == "e"

    def test_id_echoed_when_path_is_bad(self, rules: FileRules):
        assert assert_error(ask(rules, 5, id="q"), "BAD_REQUEST").id == "q"

    def test_very_long_path(self, rules: FileRules):
        assert_error(ask(rules, "a/" * MAX_PATH_CHARS), "BAD_REQUEST")

    def test_component_too_long(self, rules: FileRules):
        reply = assert_error(ask(rules, "x" * 300), "BAD_REQUEST")
        assert len(reply.message) < 300

    def test_control_characters_in_name_are_just_missing(self, rules: FileRules):
        assert_error(ask(rules, "\x1b[31mred\n\r"), "NOT_FOUND")

    @settings(max_examples=200, deadline=None)
    @given(frames=st.lists(st.binary(max_size=64), max_size=3))
    def test_any_frames_get_exactly_one_reply(self, hyp_root: Path, frames: list[bytes]):
        reply = decode_reply([FileRules(hyp_root).respond(frames).encode()])
        assert isinstance(reply, ErrorReply)
        assert reply.code in ("BAD_JSON", "BAD_REQUEST", "NOT_FOUND", "NOT_A_FILE", "OUTSIDE_ROOT")

    @settings(max_examples=200, deadline=None)
    @given(path=st.text(max_size=80), request_id=st.none() | st.text(max_size=10))
    def test_any_path_gets_exactly_one_reply(self, hyp_root: Path, path: str, request_id):
        raw = (
            FileRules(hyp_root)
            .respond([json.dumps({"path": path, "id": request_id}).encode()])
            .encode()
        )
        reply = decode_reply([raw])
        assert isinstance(reply, ErrorReply)
        assert reply.code != "INTERNAL"


@pytest.fixture(scope="module")
def hyp_root(tmp_path_factory) -> Path:
    """An empty root shared by the property tests (function fixtures do not mix with them)."""
    return tmp_path_factory.mktemp("hyp-root")


def test_negative_limit_is_refused(tree: Path):
    with pytest.raises(ValueError):
        FileRules(tree, max_bytes=-1)


class TestKeptBetweenRequests:
    """The root's descriptor, files' JSON and decoded requests are kept between requests, never
    served stale."""

    def test_a_file_rewritten_in_the_same_second_with_the_same_size_is_served_new(
        self, rules: FileRules, tree: Path
    ):
        target = tree / "same.txt"
        for text in ("first\n", "again\n", "third\n"):  # same size, within one clock tick
            target.write_text(text)
            assert ask(rules, "same.txt").content == text

    def test_a_kept_file_rewritten_with_the_same_size_is_served_new(
        self, rules: FileRules, tree: Path, monkeypatch
    ):
        monkeypatch.setattr(rules._cache, "settle_ns", 50_000_000)
        target = tree / "kept.txt"
        target.write_text("first\n")
        kept_after = target.stat().st_ctime_ns + rules._cache.settle_ns
        while time.time_ns() <= kept_after:
            time.sleep(0.01)
        assert ask(rules, "kept.txt").content == "first\n"
        assert rules._cache.get(target.stat()) is not None  # kept: it is old enough
        before = target.stat()
        target.write_text("again\n")
        assert target.stat().st_size == before.st_size
        assert ask(rules, "kept.txt").content == "again\n"

    def test_a_file_changed_under_a_kept_version_is_not_served_from_it(
        self, rules: FileRules, tree: Path, monkeypatch
    ):
        """A change within the kept version's clock tick: the version cannot tell it."""
        monkeypatch.setattr(rules._cache, "settle_ns", 0)
        target = tree / "tick.txt"
        target.write_text("first\n")
        assert ask(rules, "tick.txt").content == "first\n"
        stamp = target.stat()
        target.write_text("again\n")
        os.utime(target, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        # Only st_ctime, which cannot be set by hand, may still tell the two apart.
        if target.stat().st_ctime_ns == stamp.st_ctime_ns:
            pytest.skip("the file system's clock did not tick between the two writes")
        assert ask(rules, "tick.txt").content == "again\n"

    def test_a_root_made_anew_is_served(self, rules: FileRules, tree: Path):
        assert ask(rules, "target.txt").content == "hello\n"
        tree.rename(tree.parent / "old-root")
        tree.mkdir()
        (tree / "target.txt").write_text("new root\n")
        assert ask(rules, "target.txt").content == "new root\n"

    def test_a_removed_root_is_internal_until_made_again(self, rules: FileRules, tree: Path):
        assert ask(rules, "target.txt").content == "hello\n"
        tree.rename(tree.parent / "old-root")
        assert_error(ask(rules, "target.txt"), "INTERNAL")
        tree.mkdir()
        (tree / "target.txt").write_text("back\n")
        assert ask(rules, "target.txt").content == "back\n"

    def test_a_repeated_request_is_decoded_once_and_still_walked(
        self, rules: FileRules, tree: Path, monkeypatch
    ):
        decoded = Counter()
        decode = filer.rules.decode_request

        def counting(frames: list[bytes]):
            decoded[frames[0]] += 1
            return decode(frames)

        monkeypatch.setattr(filer.rules, "decode_request", counting)
        request = [json.dumps({"path": "target.txt", "id": "r1"}).encode()]
        for _ in range(2):
            reply = decode_reply([rules.respond(request).encode()])
            assert isinstance(reply, FileReply) and reply.content == "hello\n", reply
        assert decoded == {request[0]: 1}
        (tree / "target.txt").unlink()
        reply = decode_reply([rules.respond(request).encode()])
        assert assert_error(reply, "NOT_FOUND").id == "r1"

    def test_decoded_requests_kept_are_bounded(self, rules: FileRules, monkeypatch):
        monkeypatch.setattr(rules._requests, "max_entries", 4)
        for n in range(10):
            ask(rules, f"missing-{n}.txt")
        ask(rules, "x" * filer.rules.REQUEST_CACHE_FRAME_BYTES)  # too large a frame to keep
        assert len(rules._requests._entries) == 4
        assert rules._requests.get(json.dumps({"path": "missing-9.txt"}).encode()) is not None
        assert rules._requests.get(json.dumps({"path": "missing-5.txt"}).encode()) is None

    @settings(max_examples=200, deadline=None)
    @given(text=UNICODE_TEXT, request_id=st.one_of(st.none(), UNICODE_TEXT))
    def test_a_reply_is_what_encoding_it_gave(self, hyp_root: Path, text: str, request_id):
        """The reply written from kept JSON is, byte for byte, `FileReply.encode()`'s."""
        (hyp_root / "any.txt").write_text(text, encoding="utf-8")
        raw = filer.file_reply_bytes(FileRules(hyp_root).content_json("any.txt"), request_id)
        timestamp = json.loads(raw)["timestamp"]
        assert raw == FileReply(text, timestamp, os.getpid(), request_id).encode()
