"""The rules for reading a file on request: exactly one reply per request, never a file
outside the root.

`FileRules.respond` turns one request's frames into exactly one reply (decoded request, encoded
reply) and never raises, so the responder and every cluster worker call it unguarded.
How a path is opened, and why that is race-free: the request path is split into components
and walked from a descriptor of the root, one `openat` per component with `O_NOFOLLOW`, so the
kernel never follows a symbolic link for us. `..` pops back to a directory descriptor we already
hold and may never climb above the root. A symlink is read with `readlinkat` and its target is
walked the same way, from the root for an absolute target (which must lie under the root) or
from the link's directory for a relative one. If a component changes kind between the `lstat`
and the `openat` (a file swapped for a symlink, a directory for a link), the `O_NOFOLLOW` open
fails with `ELOOP`/`ENOTDIR` and the component is looked at again, bounded by
`MAX_SYMLINK_HOPS`. The file itself is opened `O_RDONLY|O_NONBLOCK|O_NOFOLLOW|O_CLOEXEC|
O_NOCTTY` (a FIFO never blocks the open) and `fstat`-ed: only a regular file is read. A
non-regular file is refused from its `lstat` already, so devices are not even opened unless one
is swapped in within that window, and then the `fstat` refuses it. What stays outside these
rules: hard links (a hard link under the root is under the root) and directories renamed out
of the root mid-walk by someone who can write on both sides.

What is kept between requests, and why it changes nothing a client sees: the root's descriptor
(reopened as soon as the root's path names another directory: `os.stat` of the path per
request, one system call instead of an open and a close), the JSON of a file's content
(see `_ReplyCache`), looked up only once the file is open and `fstat`-ed as above, so every
request still walks, opens and is refused exactly as without it, and recent requests as
decoded from their bytes (`_RequestCache`: the same bytes always decode to the same request).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
import weakref
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

import orjson

from zmqtui.config import MAX_FILE_BYTES
from zmqtui.protocol import (
    ErrorCode,
    ErrorReply,
    FileRequest,
    ProtocolError,
    decode_request,
    error_reply,
    now_ms,
)

logger = logging.getLogger(__name__)

MAX_SYMLINK_HOPS = 40
"""Symlinks followed (plus components re-examined after a race) per request: Linux's limit."""

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
_DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ROOT_FLAGS = _DIR_FLAGS & ~os.O_NOFOLLOW
_SHOWN_CHARS = 200
_READ_CHUNK = 64 * 1024
"""Bytes asked for per read past the size `fstat` gave (a file that grows, or lies)."""

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


class _Changed(Exception):
    """A component changed kind between looking at it and opening it: look again."""


@dataclass(slots=True)
class Answer:
    """What one request got: the decoded request (None if it did not decode), the error reply
    if it was refused, and the encoded reply.

    Not frozen: a frozen dataclass sets each field through `object.__setattr__`, a cost paid
    on every request."""

    request: FileRequest | None
    error: ErrorReply | None
    data: bytes

    @property
    def ok(self) -> bool:
        return self.error is None

    def encode(self) -> bytes:
        return self.data


def _refused(request: FileRequest | None, reply: ErrorReply) -> Answer:
    return Answer(request, reply, reply.encode())


_own_pid = os.getpid()
"""This process's id, taken once (`os.getpid` is a system call) and again after a fork."""


def _take_pid() -> None:
    global _own_pid
    _own_pid = os.getpid()


os.register_at_fork(after_in_child=_take_pid)


def file_reply_bytes(content_json: bytes, request_id: str | None) -> bytes:
    """`FileReply(content, now_ms(), pid, request_id).encode()`, from the content's JSON string:
    the same bytes, with only the timestamp, pid and id written per request."""
    if request_id is None:
        return b'{"content":%b,"timestamp":%d,"pid":%d}' % (content_json, now_ms(), _own_pid)
    return b'{"content":%b,"timestamp":%d,"pid":%d,"id":%b}' % (
        content_json,
        now_ms(),
        _own_pid,
        orjson.dumps(request_id),
    )


CACHE_SETTLE_NS = 2_000_000_000
"""A file's JSON is kept only once its last change (`st_ctime`) is this much older than the
clock: file systems stamp changes with a coarse clock (a kernel tick, or whole seconds), so a
second write of the same size within one tick would otherwise look unchanged."""
CACHE_BYTES = 16 * 1024 * 1024
"""Most bytes of file JSON kept by one process's rules."""
REQUEST_CACHE_ENTRIES = 256
REQUEST_CACHE_FRAME_BYTES = 1024
"""Decoded requests kept by one process's rules, each from a frame of at most this size."""


class _ReplyCache:
    """The JSON string of files' contents, by (device, inode), with the version it was read at.

    A version is (size, `st_mtime_ns`, `st_ctime_ns`) as `fstat` gave them on the descriptor
    the content was read from. Any write, truncation, `utime`, `chmod` or rename onto the file
    sets `st_ctime` to the time of the change, which cannot be set by hand: a file changed
    since it was kept has another version, unless the change fell within the same tick of the
    file system's clock as the version kept, which `CACHE_SETTLE_NS` rules out. Files whose
    size `fstat` does not know (/proc, /sys: a read gives another size) are never kept.
    """

    def __init__(self, max_bytes: int = CACHE_BYTES, settle_ns: int = CACHE_SETTLE_NS) -> None:
        self.max_bytes = max_bytes
        self.settle_ns = settle_ns
        self._entries: OrderedDict[tuple[int, int], tuple[tuple[int, int, int], bytes]] = (
            OrderedDict()
        )
        self._bytes = 0

    def get(self, info: os.stat_result) -> bytes | None:
        entry = self._entries.get((info.st_dev, info.st_ino))
        if entry is not None and entry[0] == (info.st_size, info.st_mtime_ns, info.st_ctime_ns):
            return entry[1]
        return None

    def put(self, info: os.stat_result, content_json: bytes) -> None:
        """Keep `content_json`, read whole (`st_size` bytes) from the file `info` describes."""
        if info.st_ctime_ns > time.time_ns() - self.settle_ns or len(content_json) > self.max_bytes:
            return
        key = (info.st_dev, info.st_ino)
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1])
        self._entries[key] = ((info.st_size, info.st_mtime_ns, info.st_ctime_ns), content_json)
        self._bytes += len(content_json)
        while self._bytes > self.max_bytes:
            self._bytes -= len(self._entries.popitem(last=False)[1][1])


class _RequestCache:
    """Requests decoded lately, by their frame's bytes: clients ask for the same few files
    again and again, and a request decodes (and is validated) the same way every time."""

    def __init__(self, max_entries: int = REQUEST_CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: dict[bytes, FileRequest] = {}

    def get(self, frame: bytes) -> FileRequest | None:
        return self._entries.get(frame)

    def put(self, frame: bytes, request: FileRequest) -> None:
        if len(frame) > REQUEST_CACHE_FRAME_BYTES:
            return
        entries = self._entries
        if len(entries) >= self.max_entries:
            del entries[next(iter(entries))]  # the oldest
        entries[frame] = request


class _RootHandle:
    """A descriptor of the served root, reopened when its path names another directory (the
    root removed and made again, or another directory renamed onto it)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._fd = -1
        self._key: tuple[int, int] | None = None
        self._closer: weakref.finalize | None = None

    def fd(self) -> int:
        """The root's descriptor now; `OSError` when the root cannot be opened."""
        info = os.stat(self.path)
        key = (info.st_dev, info.st_ino)
        if key != self._key:
            # Replaced again before the open: the next request's stat sees it and reopens.
            self.close()
            fd = os.open(self.path, _ROOT_FLAGS)
            self._fd, self._key = fd, key
            self._closer = weakref.finalize(self, os.close, fd)
        return self._fd

    def close(self) -> None:
        if self._closer is not None:
            self._closer()
        self._fd, self._key, self._closer = -1, None, None


class FileRules:
    """Serves UTF-8 text files under `root`, at most `max_bytes` each; refuses all else.

    Used by one thread at a time (it keeps the root's descriptor and recent files' JSON).

    Args:
        root: The directory served. A relative request path is taken relative to it; an
            absolute one is accepted only when it lies under it (as given or with symlinks
            resolved), and `..` may never climb above it.
        max_bytes: The largest file served (`TOO_LARGE` beyond). At most `max_bytes + 1` bytes
            are ever read, whatever `st_size` says.
    """

    def __init__(self, root: Path | str, max_bytes: int = MAX_FILE_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.root = Path(os.path.abspath(root))
        self.max_bytes = max_bytes
        self._prefixes = tuple(dict.fromkeys((str(self.root), os.path.realpath(self.root))))
        self._root = _RootHandle(self.root)
        self._cache = _ReplyCache()
        self._requests = _RequestCache()

    def respond(self, frames: list[bytes]) -> Answer:
        """The decoded request and its reply (a file or an error); never raises."""
        request = self._requests.get(frames[0]) if len(frames) == 1 else None
        if request is None:
            try:
                request = decode_request(frames)
            except ProtocolError as exc:
                if exc.request_id is None and len(frames) > 1:
                    exc.request_id = _id_in_first_frame(frames)
                return _refused(None, error_reply(exc))
            except Exception:
                logger.exception("unexpected failure decoding a request")
                return _refused(None, _internal(None))
            self._requests.put(frames[0], request)
        try:
            content_json = self.content_json(request.path)
        except ProtocolError as exc:
            exc.request_id = request.id
            return _refused(request, error_reply(exc))
        except Exception:
            logger.exception("unexpected failure serving %s", self._shown(request.path))
            return _refused(request, _internal(request.id))
        return Answer(request, None, file_reply_bytes(content_json, request.id))

    def content_json(self, path: str) -> bytes:
        """The text of the file `path` names as a JSON string, or `ProtocolError` with the code
        to reply with."""
        shown = self._shown(path)
        fd, info = self._open(path, shown)
        try:
            cached = self._cache.get(info)
            if cached is not None:
                return cached
            text, read = self._read(fd, info.st_size, shown)
        finally:
            os.close(fd)
        content_json = orjson.dumps(text)
        if read == info.st_size:
            self._cache.put(info, content_json)
        return content_json

    def _open(self, path: str, shown: str) -> tuple[int, os.stat_result]:
        """A read descriptor for the regular file `path` names, and its `fstat`."""
        parts = self._relative_parts(path, shown)
        try:
            root_fd = self._root.fd()
        except OSError as exc:
            logger.error("cannot open the served root %s: %s", self.root, exc.strerror)
            raise ProtocolError(ErrorCode.INTERNAL, "the served directory is unavailable") from None
        walk = _Walk(self, root_fd, parts, shown)
        try:
            fd, info = walk.run()
        finally:
            walk.close()
        if path.endswith(("/", "/.")):  # names a directory: `a.txt/` is not `a.txt`
            os.close(fd)
            raise ProtocolError(ErrorCode.NOT_A_FILE, f"{shown} names a directory, but is a file")
        return fd, info

    def _read(self, fd: int, size: int, shown: str) -> tuple[str, int]:
        """The file's text and how many bytes it had."""
        limit = self.max_bytes
        if size > limit:
            raise _too_large(shown, limit)
        data = os.read(fd, size + 1)  # a byte more than `fstat` said tells if the file grew
        if len(data) != size:  # it changed since, or `fstat` does not know (/proc): read it all
            chunks = [data]
            total = len(data)
            while data and total <= limit:  # os.read allocates all it asks for: ask a chunk
                data = os.read(fd, min(_READ_CHUNK, limit + 1 - total))
                chunks.append(data)
                total += len(data)
            data = b"".join(chunks)
        if len(data) > limit:
            raise _too_large(shown, limit)
        try:
            return data.decode("utf-8"), len(data)
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                ErrorCode.NOT_TEXT, f"{shown} is not UTF-8 text (bad byte at offset {exc.start})"
            ) from None

    def _relative_parts(self, path: str, shown: str) -> list[str]:
        if path.startswith("/"):
            rest = self._under_root(path)
            if rest is None:
                raise _outside(shown)
            path = rest
        return _split(path)

    def _under_root(self, absolute: str) -> str | None:
        """The part of an absolute path below the root, or None if it is not under it."""
        for prefix in self._prefixes:
            if absolute == prefix or absolute.startswith(prefix.rstrip("/") + "/"):
                return absolute[len(prefix) :]
        return None

    def _shown(self, path: str) -> str:
        """The request path as error messages show it: never an absolute path outside the root."""
        if path.startswith("/"):
            rest = self._under_root(path)
            path = "the requested absolute path" if rest is None else rest.lstrip("/") or "."
        if len(path) > _SHOWN_CHARS:
            path = path[:_SHOWN_CHARS] + "…"
        return path


class _Walk:
    """One request's walk from the root to a file, holding a descriptor per directory."""

    def __init__(self, rules: FileRules, root_fd: int, parts: list[str], shown: str) -> None:
        self.rules = rules
        self.stack = [root_fd]
        self.pending = deque(parts)
        self.shown = shown
        self.hops = 0

    def run(self) -> tuple[int, os.stat_result]:
        """The open file and its `fstat`, or `ProtocolError`."""
        while self.pending:
            name = self.pending.popleft()
            if name == "..":
                if len(self.stack) == 1:
                    raise _outside(self.shown)
                os.close(self.stack.pop())
                continue
            try:
                opened = self._component(name)
            except _Changed:
                self.pending.appendleft(name)
                self._hop()
                continue
            except OSError as exc:
                raise _refusal(exc, self.shown) from None
            if opened is not None:
                return opened
        raise ProtocolError(ErrorCode.NOT_A_FILE, f"{self.shown} is a directory")

    def close(self) -> None:
        """Close the directories opened on the way (the root's descriptor is the rules')."""
        while len(self.stack) > 1:
            os.close(self.stack.pop())

    def _hop(self) -> None:
        self.hops += 1
        if self.hops > MAX_SYMLINK_HOPS:
            raise ProtocolError(
                ErrorCode.NOT_FOUND, f"{self.shown}: too many levels of symbolic links"
            )

    def _component(self, name: str) -> tuple[int, os.stat_result] | None:
        """Walk one component: open the file if it is the last, else descend or follow."""
        dir_fd = self.stack[-1]
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            self._follow(dir_fd, name)
            return None
        if not self.pending:
            return _open_file(dir_fd, name, info, self.shown)
        if not stat.S_ISDIR(info.st_mode):
            raise ProtocolError(
                ErrorCode.NOT_FOUND, f"{self.shown}: a component is not a directory"
            )
        try:
            self.stack.append(os.open(name, _DIR_FLAGS, dir_fd=dir_fd))
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link or a file
                raise _Changed from None
            raise
        return None

    def _follow(self, dir_fd: int, name: str) -> None:
        """Queue a symlink's target: from the root if absolute, else from the link's directory."""
        self._hop()
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # no longer a symlink
                raise _Changed from None
            raise
        if target.startswith("/"):
            rest = self.rules._under_root(target)
            if rest is None:
                raise _outside(self.shown)
            while len(self.stack) > 1:
                os.close(self.stack.pop())
            target = rest
        self.pending.extendleft(reversed(_split(target)))


def _open_file(
    dir_fd: int, name: str, info: os.stat_result, shown: str
) -> tuple[int, os.stat_result]:
    """Open a file `lstat` called regular, and check with `fstat` that it still is."""
    if not stat.S_ISREG(info.st_mode):
        raise _not_a_file(info, shown)
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # swapped for a symlink since the lstat
            raise _Changed from None
        raise
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise _not_a_file(opened, shown)
    except BaseException:
        os.close(fd)
        raise
    return fd, opened


def _id_in_first_frame(frames: list[bytes]) -> str | None:
    """The id a multi-frame request gave in its first frame, so its error reply can echo it."""
    try:
        return decode_request(frames[:1]).id
    except ProtocolError as exc:
        return exc.request_id


def _split(path: str) -> list[str]:
    parts = path.split("/")
    if "" in parts or "." in parts:  # most paths have neither: no comprehension to run
        parts = [part for part in parts if part not in ("", ".")]
    return parts


def _outside(shown: str) -> ProtocolError:
    return ProtocolError(ErrorCode.OUTSIDE_ROOT, f"{shown} leads outside the served directory")


def _too_large(shown: str, limit: int) -> ProtocolError:
    return ProtocolError(ErrorCode.TOO_LARGE, f"{shown} is larger than {limit} bytes")


def _not_a_file(info: os.stat_result, shown: str) -> ProtocolError:
    kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
    return ProtocolError(ErrorCode.NOT_A_FILE, f"{shown} is {kind}")


def _refusal(exc: OSError, shown: str) -> Exception:
    """The error reply for an `OSError`, or the error itself when it is unexpected."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return ProtocolError(ErrorCode.NOT_FOUND, f"{shown}: no such file")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return ProtocolError(ErrorCode.PERMISSION_DENIED, f"{shown}: permission denied")
    if exc.errno == errno.ENAMETOOLONG:
        return ProtocolError(ErrorCode.BAD_REQUEST, f"{shown}: a path component is too long")
    return exc


def _internal(request_id: str | None) -> ErrorReply:
    return ErrorReply(
        code=ErrorCode.INTERNAL,
        message="internal error; the server has logged it",
        timestamp=now_ms(),
        pid=os.getpid(),
        id=request_id,
    )
