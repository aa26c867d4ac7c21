"""The recording format: exact round trips, readable lines, malformed input told by line."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqtui.recording import (
    FORMAT,
    VERSION,
    Recorded,
    RecordedFeed,
    RecordingError,
    RecordingReader,
    RecordingWriter,
    read_recording,
)

FEEDS = (RecordedFeed("md", "tcp://127.0.0.1:5556", ("md.",)), RecordedFeed("log", "ipc://x"))

frame_bytes = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=32).map(str.encode),
    st.sampled_from([b"", b"\xed\xa0\x80", b"\xed\xb2\x80x", b"\xff", b"\x00", b"{", b"\xc3"]),
)
messages = st.lists(
    st.builds(
        Recorded,
        st.integers(min_value=0, max_value=2**63 - 1),
        st.sampled_from([feed.name for feed in FEEDS]),
        st.lists(frame_bytes, min_size=1, max_size=5).map(tuple),
    ),
    max_size=20,
)


def write(path: Path, recorded: list[Recorded], *, batch: bool = False) -> RecordingWriter:
    with RecordingWriter(path, FEEDS, start_ns=1_764_761_400_123_456_789) as writer:
        if batch:
            writer.write_batch(recorded)
        else:
            for message in recorded:
                writer.write(*message)
    return writer


@pytest.mark.parametrize("name", ["r.jsonl", "r.jsonl.zst"])
@settings(max_examples=60, deadline=None)
@given(recorded=messages, batch=st.booleans())
def test_every_frame_comes_back_exactly(name, recorded, batch):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / name
        writer = write(path, recorded, batch=batch)
        header, read = read_recording(path)
    assert read == recorded
    assert writer.messages == len(recorded)
    assert header.feeds == FEEDS and header.start_ns == 1_764_761_400_123_456_789


def test_lines_are_json_with_text_frames_readable(tmp_path):
    path = tmp_path / "r.jsonl"
    write(path, [Recorded(5, "md", (b"md.AAPL", b'{"bid": 1}', b"\xff\x00", b""))])
    header, message = (json.loads(line) for line in path.read_text().splitlines())
    assert header == {
        "format": FORMAT,
        "version": VERSION,
        "start_ns": 1_764_761_400_123_456_789,
        "start": "2025-12-03T11:30:00.123456Z",
        "feeds": [
            {"name": "md", "endpoint": "tcp://127.0.0.1:5556", "subscriptions": ["md."]},
            {"name": "log", "endpoint": "ipc://x", "subscriptions": [""]},
        ],
    }
    assert message == {
        "t": 5,
        "feed": "md",
        "frames": ["md.AAPL", '{"bid": 1}', {"b64": "/wA="}, ""],
    }


def test_zst_is_compressed_and_read_by_its_content(tmp_path):
    path = tmp_path / "r.jsonl.zst"
    recorded = [Recorded(i, "md", (b"md.AAPL", b"x" * 100)) for i in range(1000)]
    write(path, recorded, batch=True)
    assert path.read_bytes().startswith(b"\x28\xb5\x2f\xfd")
    renamed = path.rename(tmp_path / "renamed.jsonl")
    assert read_recording(renamed)[1] == recorded
    with zstandard.open(renamed, "rb") as plain:  # any zstd reader reads it
        assert len(plain.read().splitlines()) == 1001


def test_a_batch_bigger_than_the_buffer(tmp_path):
    path = tmp_path / "big.jsonl"
    recorded = [Recorded(i, "log", (b"y" * 1000,)) for i in range(1500)]  # 1.5 MB
    writer = write(path, recorded, batch=True)
    assert writer.raw_bytes == path.stat().st_size == writer.file_bytes
    assert read_recording(path)[1] == recorded


def test_an_existing_file_is_kept_unless_overwrite(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("precious\n")
    with pytest.raises(FileExistsError):
        RecordingWriter(path, FEEDS)
    assert path.read_text() == "precious\n"
    RecordingWriter(path, FEEDS, overwrite=True).close()
    assert read_recording(path)[1] == []


def test_feed_names_must_differ(tmp_path):
    with pytest.raises(ValueError, match="differ"):
        RecordingWriter(tmp_path / "r.jsonl", [RecordedFeed("a"), RecordedFeed("a")])
    assert not (tmp_path / "r.jsonl").exists()


def lines_file(tmp_path: Path, *lines: str, end: str = "\n") -> Path:
    path = tmp_path / "r.jsonl"
    header = json.dumps({"format": FORMAT, "version": 1, "start_ns": 0, "feeds": []})
    path.write_text("\n".join([header, *lines]) + end)
    return path


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"t": 1.5, "feed": "a", "frames": ["x"]}', "t must be an integer"),
        ('{"t": 1, "feed": 3, "frames": ["x"]}', "feed must be a string"),
        ('{"t": 1, "feed": "a", "frames": []}', "non-empty list"),
        ('{"t": 1, "feed": "a", "frames": [7]}', "a frame must be"),
        ('{"t": 1, "feed": "a", "frames": [{"b64": "!!"}]}', "base64 is not valid"),
        ('{"t": 1, "feed": "a", "frames": [{"b64": "AA==", "x": 1}]}', "a frame must be"),
    ],
)
def test_a_malformed_line_is_told_by_its_number(tmp_path, line, reason):
    good = '{"t": 1, "feed": "a", "frames": ["x"]}'
    path = lines_file(tmp_path, good, line, good)
    read: list[Recorded] = []
    with RecordingReader(path) as reader, pytest.raises(RecordingError) as caught:
        read.extend(reader)
    assert read == [Recorded(1, "a", (b"x",))]
    assert caught.value.line == 3 and reason in caught.value.reason
    assert str(caught.value).startswith(f"{path} line 3: ")

    malformed: list[RecordingError] = []
    with RecordingReader(path, on_malformed=malformed.append) as reader:
        assert list(reader) == [Recorded(1, "a", (b"x",))] * 2
    assert [error.line for error in malformed] == [3]


def test_a_line_cut_short_at_the_end_is_reported(tmp_path):
    path = lines_file(tmp_path, '{"t": 1, "feed": "a", "frames": ["x"]}', '{"t": 2, "fe', end="")
    with pytest.raises(RecordingError, match="line 3: not JSON"):
        read_recording(path)


def test_a_compressed_recording_cut_short_is_reported(tmp_path):
    path = tmp_path / "r.jsonl.zst"
    writer = RecordingWriter(path, FEEDS)
    writer.write(1, "md", [b"kept"])
    writer.flush()  # as the recorder does every second
    cut = path.read_bytes()  # what a recorder killed now leaves
    writer.close()
    path.write_bytes(cut)
    read: list[Recorded] = []
    with RecordingReader(path) as reader, pytest.raises(RecordingError, match="ends early"):
        read.extend(reader)
    assert read[0] == Recorded(1, "md", (b"kept",))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"hello\n", "line 1 is not JSON"),
        (b'{"t": 1}\n', "no header naming the format"),
        (b'{"format": "zmqtui-recording", "version": 2, "start_ns": 0, "feeds": []}\n', "newer"),
        (b'{"format": "zmqtui-recording", "version": 1, "start_ns": "0", "feeds": []}\n', "start"),
        (b'{"format": "zmqtui-recording", "version": 1, "start_ns": 0, "feeds": [{}]}\n', "feed"),
        (b"\x28\xb5\x2f\xfdgarbage", "zstd"),
    ],
)
def test_what_is_not_a_recording_is_refused(tmp_path, content, reason):
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=reason):
        read_recording(path)


def test_a_missing_file_is_a_recording_error(tmp_path):
    with pytest.raises(RecordingError, match="No such file"):
        RecordingReader(tmp_path / "nothing.jsonl")


def test_unknown_keys_are_ignored(tmp_path):
    path = lines_file(tmp_path, '{"t": 1, "feed": "a", "frames": ["x"], "note": "later"}')
    assert read_recording(path)[1] == [Recorded(1, "a", (b"x",))]
