"""Two messages compared frame by frame: fields for JSON and msgpack, lines for text, bytes
for the rest; escaped, bounded."""

from __future__ import annotations

import msgpack

from zmqtui.message_diff import DiffLine, compare_messages


def test_structured_frames_are_compared_field_by_field() -> None:
    a = [b"md.AAPL", b'{"bid": 4, "ask": 5, "venue": {"id": 1}, "tags": ["a"]}']
    b = [b"md.AAPL", b'{"bid": 5, "ask": 5, "venue": {"id": 1, "x": true}, "note": "n"}']
    diff = compare_messages(a, b)
    assert diff.lines == (
        DiffLine("same", "frame 0: the same (7 bytes)"),
        DiffLine("note", "frame 1 · json"),
        DiffLine("changed", "changed .bid: 4 → 5"),
        DiffLine("added", "added .venue.x: true"),
        DiffLine("removed", 'removed .tags: ["a"]'),
        DiffLine("added", 'added .note: "n"'),
    )
    assert (diff.changed, diff.added, diff.removed) == (1, 2, 1)
    assert diff.summary() == "1 changed, 2 added, 1 removed"


def test_msgpack_and_json_written_differently() -> None:
    packed = compare_messages([msgpack.packb({"a": [1, 2]})], [msgpack.packb({"a": [1, 3]})])
    assert packed.lines[1:] == (DiffLine("changed", "changed .a[1]: 2 → 3"),)
    spaced = compare_messages([b'{"a":1,"b":2}'], [b'{"b": 2, "a": 1}'])
    assert spaced.equal and spaced.lines[1].kind == "note"


def test_text_line_by_line_bytes_by_first_difference_frames_only_in_one() -> None:
    text = compare_messages([b"one\ntwo\nthree"], [b"one\n2\nthree\nfour"])
    assert text.lines == (
        DiffLine("note", "frame 0 · text"),
        DiffLine("removed", "- two"),
        DiffLine("added", "+ 2"),
        DiffLine("added", "+ four"),
    )
    binary = compare_messages([b"\x00\x01\x02\xff"], [b"\x00\x01\x03\xff"], max_lines=5)
    assert binary.lines == (
        DiffLine("changed", "frame 0 · bytes: byte 2 differs: b'\\x00\\x01\\x02\\xff' in A, "
                 "b'\\x00\\x01\\x03\\xff' in B"),
    )  # fmt: skip
    frames = compare_messages([b"t", b"x"], [b"t", b"x", b"\x1b[31m[bold]"])
    assert frames.lines[-1] == DiffLine("added", "frame 2: \\x1b[31m[bold] (11 bytes)")
    assert compare_messages([b"t", b"x"], [b"t"]).lines[-1] == DiffLine(
        "removed", "frame 1: x (1 byte)"
    )


def test_wire_text_is_escaped_and_the_lines_bounded() -> None:
    hostile = compare_messages([b'{"k": "a"}'], [b'{"k": "\\u001b[2J\\u202e"}'])
    assert hostile.lines[1] == DiffLine("changed", 'changed .k: "a" → "\\u001b[2J\\u202e"')
    many = {f"k{i}": i for i in range(500)}
    bounded = compare_messages([msgpack.packb({"k0": 0})], [msgpack.packb(many)], max_lines=10)
    assert len(bounded.lines) == 10 and bounded.added == 499, "counted whole"
    assert bounded.lines[-1] == DiffLine("note", "… and 491 more lines")
