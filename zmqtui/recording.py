"""Recordings: every message of one or more feeds, exactly, in a file standard tools read.

A recording is JSON Lines (one JSON object per line, UTF-8), zstd-compressed when its name ends
in `.zst`. Line 1 is the header, every further line one message:

    {"format":"zmqtui-recording","version":1,"start_ns":…,"start":"2026-12-03T11:30:00.000000Z",
     "feeds":[{"name":"md","endpoint":"tcp://127.0.0.1:5556","subscriptions":[""]}]}
    {"t":1764761400123456789,"feed":"md","frames":["md.AAPL",{"b64":"gqNiaWTLQF7dcKPXCj0="}]}

`t` is the receive time in ns since the epoch; a frame that is valid UTF-8 is a JSON string,
any other frame `{"b64": …}` (standard base64, padded), so every byte comes back as it was
recorded. Readers ignore keys they do not know; a newer major `version` is refused.

Writing keeps up with a 100k msg/s feed (orjson, lines joined per batch, a large buffer);
reading streams, and a malformed line is reported with its line number, never skipped in
silence. Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

import binascii
import io
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson
import zstandard

from zmqtui.topics import TOPIC_RULES, TopicRule

FORMAT = "zmqtui-recording"
VERSION = 1
"""The format's version: a reader refuses a newer one (an older one it still reads)."""

COMPRESSED_SUFFIX = ".zst"
ZSTD_LEVEL = 3
"""zstd's default level: ~10x on JSON feeds at several hundred MB/s, far above what a feed sends."""

WRITE_BUFFER = 1 << 20
READ_CHUNK = 1 << 20
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class RecordingError(ValueError):
    """A file that is not a readable recording, or a malformed line in one.

    `line` is the 1-based line number (None when the problem is not one line's).
    """

    def __init__(self, path: str | os.PathLike[str], line: int | None, reason: str) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path} line {line}"
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class RecordedFeed:
    """One feed of a recording: the name its messages carry, where it was received from."""

    name: str
    endpoint: str = ""
    subscriptions: tuple[str, ...] = ("",)
    """The SUB socket's subscriptions (UTF-8 prefixes of frame 0; "" is everything)."""
    topic_rule: TopicRule = "auto"
    """How its messages carry their topic (`zmqtui.topics`); written only when not `auto`."""

    def to_json(self) -> dict[str, Any]:
        value: dict[str, Any] = {
            "name": self.name,
            "endpoint": self.endpoint,
            "subscriptions": list(self.subscriptions),
        }
        if self.topic_rule != "auto":
            value["topic_rule"] = self.topic_rule
        return value


@dataclass(frozen=True, slots=True)
class Header:
    """Line 1 of a recording."""

    feeds: tuple[RecordedFeed, ...]
    start_ns: int
    """When recording began, in ns since the epoch."""
    version: int = VERSION

    def to_json(self) -> dict[str, Any]:
        start = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.start_ns // 1_000_000_000))
        return {
            "format": FORMAT,
            "version": self.version,
            "start_ns": self.start_ns,
            "start": f"{start}.{self.start_ns % 1_000_000_000 // 1000:06d}Z",
            "feeds": [feed.to_json() for feed in self.feeds],
        }


class Recorded(NamedTuple):
    """One recorded message: its receive time (ns since the epoch), its feed and its frames."""

    received_ns: int
    feed: str
    frames: tuple[bytes, ...]


def new_recording(
    directory: Path,
    prefix: str,
    now: float,
    feeds: Iterable[RecordedFeed],
    *,
    compressed: bool = False,
    start_ns: int | None = None,
) -> RecordingWriter:
    """A writer on a new file in `directory` (made if missing) named after the local time `now`:
    `PREFIX-YYYYmmdd-HHMMSS.jsonl` (`.jsonl.zst` when `compressed`), `-2`, `-3`... added when
    taken. Never replaces a file, even one made meanwhile by another process."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    stem = time.strftime(f"{prefix}-%Y%m%d-%H%M%S", time.localtime(now))
    suffix = ".jsonl" + (COMPRESSED_SUFFIX if compressed else "")
    feeds = tuple(feeds)
    path, number = directory / f"{stem}{suffix}", 1
    while True:
        try:
            return RecordingWriter(path, feeds, start_ns=start_ns)
        except FileExistsError:
            number += 1
            path = directory / f"{stem}-{number}{suffix}"


def is_compressed(path: str | os.PathLike[str]) -> bool:
    """Whether a recording at `path` is written with zstd (its name ends in `.zst`)."""
    return os.fspath(path).endswith(COMPRESSED_SUFFIX)


# --- writing --------------------------------------------------------------------------------


_dumps = orjson.dumps
_NEWLINE = orjson.OPT_APPEND_NEWLINE
_b2a = binascii.b2a_base64


def _frame_json(frame: bytes) -> str | dict[str, str]:
    try:
        return frame.decode()
    except UnicodeDecodeError:
        return {"b64": _b2a(frame, newline=False).decode("ascii")}


def encode_message(received_ns: int, feed: str, frames: Sequence[bytes]) -> bytes:
    """One message line, its newline included."""
    try:
        texts: list[Any] = [frame.decode() for frame in frames]
    except UnicodeDecodeError:
        texts = [_frame_json(frame) for frame in frames]
    return _dumps({"t": received_ns, "feed": feed, "frames": texts}, option=_NEWLINE)


class RecordingWriter:
    """Writes a recording as messages arrive: the header at once, then lines in large writes.

    Lines gather in one buffer (each encoded line is copied there and freed at once: holding
    thousands of orjson's results alive made each `dumps` several times slower).

    Args:
        path: the file; `.zst` at the end of its name compresses it.
        feeds: the feeds whose messages it will hold.
        start_ns: when recording began [default: now].
        overwrite: replace an existing file (else `FileExistsError`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        feeds: Iterable[RecordedFeed],
        *,
        start_ns: int | None = None,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        self.header = Header(tuple(feeds), time.time_ns() if start_ns is None else start_ns)
        names = [feed.name for feed in self.header.feeds]
        if len(set(names)) != len(names):
            raise ValueError(f"feed names must differ: {names}")
        header_line = _dumps(self.header.to_json(), option=_NEWLINE)  # a lone surrogate fails
        self.messages = 0
        """Messages written so far."""
        self.raw_bytes = 0
        """Bytes of JSON Lines handed to the file so far (before compression)."""
        self._file: IO[bytes] = open(self.path, "wb" if overwrite else "xb")  # noqa: SIM115
        self._out: Any = self._file
        if is_compressed(self.path):
            compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
            self._out = compressor.stream_writer(self._file, write_size=WRITE_BUFFER)
        self._buffer = io.BytesIO()
        self._buffer.write(header_line)
        self._closed = False

    def write(self, received_ns: int, feed: str, frames: Sequence[bytes]) -> None:
        """Add one message (kept in memory until `WRITE_BUFFER` bytes are waiting)."""
        self._buffer.write(encode_message(received_ns, feed, frames))
        self.messages += 1
        if self._buffer.tell() >= WRITE_BUFFER:
            self._write_buffer()

    def write_batch(self, messages: Iterable[tuple[int, str, Sequence[bytes]]]) -> None:
        """Add several messages, as `write` does for each."""
        put = self._buffer.write
        count = 0
        for received_ns, feed, frames in messages:
            try:
                texts: list[Any] = [frame.decode() for frame in frames]
            except UnicodeDecodeError:
                texts = [_frame_json(frame) for frame in frames]
            put(_dumps({"t": received_ns, "feed": feed, "frames": texts}, option=_NEWLINE))
            count += 1
        self.messages += count
        if self._buffer.tell() >= WRITE_BUFFER:
            self._write_buffer()

    def flush(self) -> None:
        """Everything written so far to the file (readable even if the process then dies)."""
        self._write_buffer()
        if self._out is not self._file:
            self._out.flush(zstandard.FLUSH_BLOCK)
        self._file.flush()

    def close(self) -> None:
        """Write what waits and end the file (a compressed one gets its end of frame)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._write_buffer()
        finally:
            self._out.close()  # closes the file under a compressor too
            if not self._file.closed:
                self._file.close()

    @property
    def file_bytes(self) -> int:
        """The file's size on disk (compressed, for `.zst`)."""
        return self.path.stat().st_size

    def _write_buffer(self) -> None:
        buffer = self._buffer
        size = buffer.tell()
        if size:
            with buffer.getbuffer() as data:
                self._out.write(data[:size])
            buffer.seek(0)
            buffer.truncate()
            self.raw_bytes += size

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- reading --------------------------------------------------------------------------------


_a2b = binascii.a2b_base64


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(READ_CHUNK):
        yield chunk


def _decompressed(chunks: Iterable[bytes], path: str) -> Iterator[bytes]:
    """The bytes of zstd frames one after another; an unfinished last frame is an error."""
    decompressor = zstandard.ZstdDecompressor()
    obj = decompressor.decompressobj()
    started = False
    for chunk in chunks:
        while chunk:
            try:
                data = obj.decompress(chunk)
            except zstandard.ZstdError as exc:
                raise RecordingError(path, None, f"not valid zstd data ({exc})") from None
            started = True
            if data:
                yield data
            if not obj.eof:
                break
            chunk = obj.unused_data  # another frame follows (concatenated files)
            obj = decompressor.decompressobj()
            started = False
    if started:
        raise RecordingError(path, None, "compressed data ends early (was the recorder killed?)")


def _lines(path: str, stream: IO[bytes]) -> Iterator[bytes]:
    """The file's lines, without newlines; a last line without one is given as it is."""
    chunks = _chunks(stream)
    first = next(chunks, b"")
    data = chain((first,), chunks)
    if first.startswith(_ZSTD_MAGIC):
        data = _decompressed(data, path)
    carry = b""
    for chunk in data:
        lines = chunk.split(b"\n")
        lines[0] = carry + lines[0]
        carry = lines.pop()
        yield from lines
    if carry:
        yield carry


def _parse_header(path: str, line: bytes | None) -> Header:
    if line is None:
        raise RecordingError(path, None, f"empty file: not a {FORMAT}")
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise RecordingError(path, 1, f"not a {FORMAT} (line 1 is not JSON)") from None
    if not isinstance(value, dict) or value.get("format") != FORMAT:
        raise RecordingError(path, 1, f"not a {FORMAT} (no header naming the format)")
    version = value.get("version")
    if type(version) is not int or version < 1:
        raise RecordingError(path, 1, f"header: version must be a positive integer: {version!r}")
    if version > VERSION:
        raise RecordingError(
            path, 1, f"version {version} is newer than this zmqtui reads ({VERSION}): upgrade"
        )
    start_ns = value.get("start_ns")
    if type(start_ns) is not int:
        raise RecordingError(path, 1, f"header: start_ns must be an integer: {start_ns!r}")
    feeds = value.get("feeds")
    if not isinstance(feeds, list):
        raise RecordingError(path, 1, "header: feeds must be a list")
    return Header(tuple(_parse_feed(path, feed) for feed in feeds), start_ns, version)


def _parse_feed(path: str, value: Any) -> RecordedFeed:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise RecordingError(path, 1, f"header: a feed must be an object with a name: {value!r}")
    endpoint = value.get("endpoint", "")
    subscriptions = value.get("subscriptions", [""])
    rule = value.get("topic_rule", "auto")
    if not isinstance(endpoint, str):
        raise RecordingError(path, 1, f"header: feed endpoint must be a string: {endpoint!r}")
    if not isinstance(subscriptions, list) or not all(isinstance(s, str) for s in subscriptions):
        raise RecordingError(path, 1, "header: feed subscriptions must be a list of strings")
    if rule not in TOPIC_RULES:
        raise RecordingError(path, 1, f"header: unknown topic_rule {rule!r}")
    return RecordedFeed(value["name"], endpoint, tuple(subscriptions), rule)


def decode_message(line: bytes) -> Recorded:
    """A message line as it was recorded; ValueError says what is wrong with it."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    received_ns = value.get("t")
    feed = value.get("feed")
    frames = value.get("frames")
    if type(received_ns) is not int:
        raise ValueError(f"t must be an integer (ns): {received_ns!r}")
    if not isinstance(feed, str):
        raise ValueError(f"feed must be a string: {feed!r}")
    if not isinstance(frames, list) or not frames:
        raise ValueError("frames must be a non-empty list")
    try:
        return Recorded(received_ns, feed, tuple([frame.encode() for frame in frames]))
    except AttributeError:  # a {"b64": ...} frame
        return Recorded(received_ns, feed, tuple([_frame_bytes(frame) for frame in frames]))


def _frame_bytes(frame: Any) -> bytes:
    if isinstance(frame, str):
        return frame.encode()
    if not isinstance(frame, dict) or list(frame) != ["b64"] or not isinstance(frame["b64"], str):
        raise ValueError(f'a frame must be a string or {{"b64": "..."}}: {frame!r}'[:200])
    try:
        return _a2b(frame["b64"], strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"a frame's base64 is not valid ({exc})") from None


class RecordingReader:
    """Reads a recording as a stream: the header at once, then its messages one by one.

    A malformed line raises `RecordingError` with its line number; with `on_malformed`, it is
    handed to that instead and reading goes on. Compression is told by the file's first
    bytes, whatever its name.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        on_malformed: Callable[[RecordingError], None] | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.on_malformed = on_malformed
        try:
            self._file: IO[bytes] = open(self.path, "rb")  # noqa: SIM115
        except OSError as exc:
            raise RecordingError(self.path, None, exc.strerror or str(exc)) from None
        try:
            self._lines = _lines(self.path, self._file)
            self.header = _parse_header(self.path, next(self._lines, None))
        except BaseException:
            self._file.close()
            raise
        self.line = 1
        """The number of the line read last."""

    def __iter__(self) -> Iterator[Recorded]:
        decode = decode_message
        try:
            for line in self._lines:
                self.line += 1
                try:
                    yield decode(line)
                except ValueError as exc:
                    self._malformed(RecordingError(self.path, self.line, str(exc)))
        except RecordingError as exc:
            self._malformed(exc)
        except OSError as exc:
            self._malformed(RecordingError(self.path, None, exc.strerror or str(exc)))

    def skip(self, count: int) -> int:
        """Pass over the next `count` lines without reading them as messages (a reader that
        resumes where another, which checked them, stopped); how many there were."""
        try:
            skipped = sum(1 for _ in islice(self._lines, count))
        except OSError as exc:
            raise RecordingError(self.path, None, exc.strerror or str(exc)) from None
        self.line += skipped
        return skipped

    def _malformed(self, error: RecordingError) -> None:
        if self.on_malformed is None:
            raise error
        self.on_malformed(error)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_recording(path: str | os.PathLike[str]) -> tuple[Header, list[Recorded]]:
    """A whole recording in memory (small ones: tests, a diff); malformed lines raise."""
    with RecordingReader(path) as reader:
        return reader.header, list(reader)
