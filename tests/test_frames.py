"""The frame syntax: what each way of writing a frame sends, and the errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqtui.frames import (
    FrameSyntaxError,
    anchor_file,
    format_frame,
    frame_value,
    parse_frame,
    parse_frames,
)


@pytest.mark.parametrize(
    ("argument", "frame"),
    [
        ('json:{"a": 1}', b'{"a": 1}'),
        ("json:42", b"42"),
        ('json:"\u00e9"', '"\u00e9"'.encode()),
        ("text:hello", b"hello"),
        ("text:", b""),
        ("text:@not-a-file", b"@not-a-file"),
        ("text:json:{", b"json:{"),
        ("hex:00ff", b"\x00\xff"),
        ("hex:00 ff  10", b"\x00\xff\x10"),
        ("hex:", b""),
        ("b64:AP8=", b"\x00\xff"),
        ("hello", b"hello"),
        ('{"path": "x"}', b'{"path": "x"}'),
        ("{not json", b"{not json"),
        ("", b""),
        ("http://example", b"http://example"),
        ("caf\udce9", b"caf\xe9"),
    ],
)
def test_each_way_of_writing_a_frame(argument, frame):
    assert parse_frame(argument) == frame


@pytest.mark.parametrize(
    ("argument", "offset", "reason"),
    [
        ('json:{"a":}', 10, "not JSON: Expecting value"),
        ("json:", 5, "not JSON: Expecting value"),
        ('json:{"a": 1} x', 14, "not JSON: Extra data"),
        ("json:[NaN]", 6, "not JSON: NaN is not a JSON value"),
        ("hex:0g", 5, "hex: 'g' is not a hex digit"),
        ("hex:0 0", 4, "hex: a byte needs two digits"),
        ("hex:abc", 6, "hex: a byte needs two digits"),
        ("b64:AP8", 7, "b64: "),
        ("b64:A P8=", 5, "b64: ' ' is not a base64 character"),
        ("@", 1, "@ needs a file name"),
        ("@/no/such/file", 1, "cannot read /no/such/file: No such file or directory"),
    ],
)
def test_errors_say_what_and_where(argument, offset, reason):
    with pytest.raises(FrameSyntaxError) as caught:
        parse_frame(argument)
    assert caught.value.offset == offset
    assert caught.value.reason.startswith(reason)
    assert caught.value.argument == argument
    assert f"(at character {offset + 1})" in str(caught.value)


def test_a_file_frame_is_the_files_bytes_up_to_a_limit(tmp_path):
    path = tmp_path / "body.bin"
    path.write_bytes(b"\x00\x01" * 8)
    assert parse_frame(f"@{path}", max_file_bytes=16) == b"\x00\x01" * 8
    with pytest.raises(FrameSyntaxError, match="is larger than 15 bytes"):
        parse_frame(f"@{path}", max_file_bytes=15)


def test_an_error_names_its_frame():
    with pytest.raises(FrameSyntaxError) as caught:
        parse_frames(["text:ok", "hex:zz"])
    assert caught.value.reason.startswith("frame 2: hex:")
    assert caught.value.argument == "hex:zz"
    assert caught.value.offset == 4


def test_an_error_escapes_what_it_quotes(tmp_path):
    with pytest.raises(FrameSyntaxError) as caught:
        parse_frame("@\x1b[31mred")
    assert "\x1b" not in str(caught.value)
    assert "\\x1b[31mred" in str(caught.value)


@pytest.mark.parametrize(
    ("frame", "shown", "value"),
    [
        (b'{"a": [1, 2]}', 'json:{"a": [1, 2]}', {"json": {"a": [1, 2]}}),
        (b'{\n "a": 1\n}', 'json:{\\n "a": 1\\n}', {"json": {"a": 1}}),
        (b"[NaN]", "text:[NaN]", {"text": "[NaN]"}),
        (b"[100000000000000000000000]", "json:[100000000000000000000000]", {"json": [10**23]}),
        (b"[1]", "json:[1]", {"json": [1]}),
        (b"42", "text:42", {"text": "42"}),
        (b"{not json", "text:{not json", {"text": "{not json"}),
        (b"two\nlines\t", "text:two\\nlines\\t", {"text": "two\nlines\t"}),
        (b"", "text:", {"text": ""}),
        (b"\x00\xff", "hex:00ff", {"b64": "AP8="}),
        (b"bell\x07", "hex:62656c6c07", {"b64": "YmVsbAc="}),
        ("\u009b31m".encode(), "hex:c29b33316d", {"b64": "wpszMW0="}),
        (b'{"x": "\\u001b[2J"}', 'json:{"x": "\\u001b[2J"}', {"json": {"x": "\x1b[2J"}}),
        ("\u202eevil".encode(), "text:\\u202eevil", {"text": "\u202eevil"}),
        (
            bytes.fromhex("82a16101a162920102"),
            'msgpack:{"a":1,"b":[1,2]}',
            {"b64": "gqFhAaFikgEC", "msgpack": {"a": 1, "b": [1, 2]}},
        ),
        (bytes.fromhex("089601"), "protobuf:1: 150", {"b64": "CJYB", "protobuf": {"1": 150}}),
        (
            bytes.fromhex("81a178a61b5b324ac29b"),  # {"x": "\x1b[2J\x9b"}: controls escaped
            'msgpack:{"x":"\\u001b[2J\\x9b"}',
            {"b64": "gaF4phtbMkrCmw==", "msgpack": {"x": "\x1b[2J\x9b"}},
        ),
    ],
)
def test_a_frame_is_shown_in_the_syntax_safe_to_print(frame, shown, value):
    assert format_frame(frame) == shown
    assert frame_value(frame) == value


def test_what_is_shown_as_text_or_hex_reads_back_as_the_same_bytes():
    for frame in (b"plain words", b"\x00\x01binary", "caf\u00e9".encode()):
        shown = format_frame(frame)
        assert parse_frame(shown) == frame


def test_a_long_frame_is_cut():
    assert format_frame(b"x" * 100, limit=10) == "text:" + "x" * 10 + "\u2026"


def test_anchor_file_makes_a_relative_file_absolute_and_leaves_the_rest() -> None:
    base = Path("/srv/requests")
    assert anchor_file("@body.bin", base) == "@/srv/requests/body.bin"
    assert anchor_file("@data/x.bin", base) == "@/srv/requests/data/x.bin"
    for unchanged in ("@/etc/x.bin", "@", "text:@body.bin", "body.bin", "json:{}"):
        assert anchor_file(unchanged, base) == unchanged
