"""`zmqtui diff` and the comparison under it: per topic, first difference, exit statuses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgpack
import pytest
from click.testing import CliRunner

from zmqtui.commands.diff import command
from zmqtui.recording import RecordedFeed, RecordingError, RecordingWriter
from zmqtui.recording_diff import compare_recordings, describe_difference


def recording(path: Path, messages, feeds=("md",)) -> Path:
    with RecordingWriter(
        path, [RecordedFeed(name, f"tcp://h:{i}") for i, name in enumerate(feeds)]
    ) as w:
        for i, (feed, frames) in enumerate(messages):
            w.write(i * 10_000_000, feed, frames)
    return path


def run(ticks: int = 10, *, changed_at: int | None = None, feed: str = "md"):
    for i in range(ticks):
        bid = i + 1 if i == changed_at else i
        yield feed, [b"md.AAPL", json.dumps({"bid": bid, "ask": 1}).encode()]
        yield feed, [b"md.MSFT", msgpack.packb({"bid": i})]
        yield feed, [b"\xff\x00%d" % i]


def test_equal_recordings(tmp_path):
    a = recording(tmp_path / "a.jsonl", run())
    b = recording(tmp_path / "b.jsonl.zst", run(feed="other"), feeds=("other",))
    diff = compare_recordings(a, b)
    assert diff.equal and diff.a.messages == diff.b.messages == 30
    assert [(t.topic, t.a.count, t.b.count) for t in diff.topics] == [
        (None, 10, 10), (b"md.AAPL", 10, 10), (b"md.MSFT", 10, 10)
    ]  # fmt: skip
    assert diff.topics[1].a.rate == pytest.approx(10 / 0.29)


def test_the_first_difference_per_topic(tmp_path):
    a = recording(tmp_path / "a.jsonl", run())
    b = recording(tmp_path / "b.jsonl", [*run(changed_at=4), ("md", [b"md.MSFT", b"extra"])])
    diff = compare_recordings(a, b)
    assert not diff.equal
    found = {t.topic: (t.index, t.difference) for t in diff.topics}
    assert found == {
        None: (None, None),
        b"md.AAPL": (4, "frame 1: json changed .bid: 4 → 5"),
        b"md.MSFT": (10, "only in B"),
    }


def test_feeds_are_matched_by_name_when_there_are_several(tmp_path):
    both = [("x", [b"t", b"1"]), ("y", [b"t", b"2"])]
    a = recording(tmp_path / "a.jsonl", both, feeds=("x", "y"))
    b = recording(tmp_path / "b.jsonl", both[:1], feeds=("x", "y"))
    diff = compare_recordings(a, b)
    assert [(t.feed, t.a.count, t.b.count, t.difference) for t in diff.topics] == [
        ("x", 1, 1, None), ("y", 1, 0, "only in A")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("a", "b", "described"),
    [
        ((b"a",), (b"a", b"b"), "1 frames in A, 2 in B"),
        ((b"t", b"abc"), (b"t", b"abd"), "frame 1: byte 2 differs: b'abc' in A, b'abd' in B"),
        ((b"abc",), (b"abcdef",), "frame 0: 3 bytes in A, 6 in B, the same up to there"),
        (
            (b'{"a": 1}',),
            (b'{"a":1}',),
            "frame 0: byte 5 differs: b'{\"a\": 1}' in A, b'{\"a\":1}' in B",
        ),
        ((msgpack.packb([1, 2]),), (msgpack.packb([1]),), "frame 0: msgpack removed .[1]: 2"),
    ],
)
def test_differences_described(a, b, described):
    assert describe_difference(a, b) == described


def test_the_command_exits_0_equal_1_different_2_bad_input(tmp_path):
    a = recording(tmp_path / "a.jsonl", run())
    b = recording(tmp_path / "b.jsonl", run(changed_at=2))
    runner = CliRunner()
    same = runner.invoke(command, [str(a), str(a)])
    assert same.exit_code == 0 and "equal: 3 topics" in same.output
    different = runner.invoke(command, [str(a), str(b)])
    assert different.exit_code == 1
    assert (
        re.search(r"md\.AAPL +10  10 ", different.output)
        and "#2: frame 1: json changed .bid: 2 → 3" in different.output
    )
    as_json = runner.invoke(command, [str(a), str(b), "--json"])
    report = json.loads(as_json.output)
    assert as_json.exit_code == 1 and report["equal"] is False
    assert report["topics"][1]["first_difference"] == {
        "index": 2, "description": "frame 1: json changed .bid: 2 → 3"
    }  # fmt: skip
    (tmp_path / "bad.jsonl").write_text("hello\n")
    bad = runner.invoke(command, [str(a), str(tmp_path / "bad.jsonl")])
    assert bad.exit_code == 2 and "not a zmqtui-recording" in bad.output


def test_a_malformed_line_is_bad_input(tmp_path):
    a = recording(tmp_path / "a.jsonl", run())
    with a.open("a") as f:
        f.write("{oops\n")
    with pytest.raises(RecordingError, match="line 32"):
        compare_recordings(a, a)
