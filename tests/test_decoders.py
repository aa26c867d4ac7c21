"""Decoders for any feed's frames: the automatic choice, forced decoders, overrides by topic,
rendering, and robustness against garbage."""

from __future__ import annotations

import json

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from zmqtui.decoders import (
    CHOICES,
    DECODER_NAMES,
    DecoderMap,
    decode_frame,
    decode_message,
    decoded_plain,
    detail_lines,
    hex_dump,
    next_choice,
    one_line,
    parse_decoder_name,
    plain,
)
from zmqtui.decoders.frames import decode_head
from zmqtui.decoders.protobuf import MAX_DEPTH, ProtoField, parse_message, signed

PROTO = b"\x08\x96\x01\x12\x02hi\x1a\x02\x08\x01"
"""field 1 varint 150, field 2 string "hi", field 3 a nested message {1: 1}."""


class TestAutomaticChoice:
    @pytest.mark.parametrize(
        ("frame", "decoder"),
        [
            (b'{"level": "warn", "n": 1}', "json"),
            (b"[1, 2]", "json"),
            (b"42", "json"),
            (b'"a string"', "json"),
            (msgpack.packb({"bid": 101.5, "ask": 102}), "msgpack"),
            (msgpack.packb([1, "two", b"\x00"]), "msgpack"),
            (b"10001 23 45", "text"),
            (b"hello", "text"),
            (b"a", "text"),
            (b"", "text"),
            ("caf\u00e9 \u00df\n".encode(), "text"),
            (b"\x1b[31mERROR\x1b[0m disk full", "text"),
            (PROTO, "protobuf"),
            (bytes(range(256)), "hex"),
            (b'{"bad\x1b[31m \xff', "hex"),
        ],
    )
    def test_the_first_decoder_that_fits(self, frame, decoder):
        assert decode_frame(frame).decoder == decoder

    @pytest.mark.parametrize(
        "frame",
        [msgpack.packb(5), msgpack.packb(-1), msgpack.packb([]), msgpack.packb({}), b"\x90"],
    )
    def test_a_lone_scalar_or_empty_container_is_not_msgpack(self, frame):
        assert decode_frame(frame).decoder != "msgpack"

    def test_text_is_never_msgpack_or_protobuf(self):
        for frame in (b"hi there", b"Z", b"md.AAPL 1.5", "\u00dc\u00df".encode(), b"\n\t"):
            assert decode_frame(frame).decoder in ("text", "json")

    def test_msgpack_with_bytes_left_over_is_not_msgpack(self):
        assert decode_frame(msgpack.packb({"a": 1}) + b"\xc1").decoder != "msgpack"

    def test_nothing_is_an_error_when_chosen_automatically(self):
        for frame in (b"\xff\xfe", b"\x00", PROTO[:-1], b"{", b"\x91" * 50_000):
            assert decode_frame(frame).error is None


class TestForcedDecoders:
    def test_a_forced_decoder_that_fails_says_why(self):
        decoded = decode_frame(b"not json", "json")
        assert decoded.failed and decoded.decoder == "json" and "not JSON" in decoded.error
        assert one_line(decoded).startswith("✗ json: not JSON")

    @pytest.mark.parametrize("name", ["msgpack", "protobuf", "text"])
    def test_each_forced_decoder_refuses_what_it_cannot_read(self, name):
        assert decode_frame(b"\xc1\xff\xfe", name).failed

    def test_hex_and_raw_read_anything(self):
        for name in ("hex", "raw"):
            decoded = decode_frame(b"\x00\xff", name)
            assert not decoded.failed and decoded.value == b"\x00\xff"

    def test_forcing_msgpack_reads_a_scalar(self):
        assert decode_frame(msgpack.packb(5), "msgpack").value == 5

    def test_names_and_cycle(self):
        assert set(DECODER_NAMES) == {"json", "msgpack", "protobuf", "text", "hex", "raw"}
        assert parse_decoder_name("msgpack") == "msgpack"
        with pytest.raises(ValueError, match="decoder must be one of auto, json"):
            parse_decoder_name("yaml")
        seen = ["auto"]
        while (following := next_choice(seen[-1])) != "auto":
            seen.append(following)
        assert tuple(seen) == CHOICES


class TestProtobuf:
    def test_fields_values_and_nesting(self):
        assert parse_message(PROTO) == (
            ProtoField(1, "varint", 150),
            ProtoField(2, "bytes", "hi"),
            ProtoField(3, "bytes", (ProtoField(1, "varint", 1),)),
        )

    def test_fixed_widths_and_bytes(self):
        frame = b"\x0d\x01\x00\x00\x00\x11" + (2).to_bytes(8, "little") + b"\x1a\x02\xff\x00"
        fields = parse_message(frame)
        assert [(f.wire_type, f.value) for f in fields] == [
            ("fixed32", 1), ("fixed64", 2), ("bytes", b"\xff\x00")
        ]  # fmt: skip
        assert signed(0xFFFFFFFF, "fixed32") == -1

    @pytest.mark.parametrize(
        "frame",
        [
            b"",
            b"\x00\x01",  # field number 0
            b"\x0b\x01",  # a group
            b"\x0f",  # wire type 7
            b"\x08",  # a varint cut short
            b"\x08" + b"\xff" * 11,  # a varint longer than 10 bytes
            b"\x12\x05hi",  # a length past the end
            b"\x0d\x01\x00",  # fixed32 cut short
        ],
    )
    def test_garbage_is_not_protobuf(self, frame):
        assert parse_message(frame) is None

    def test_nesting_is_bounded(self):
        frame = b"\x08\x01"
        for _ in range(MAX_DEPTH + 10):
            frame = b"\x0a" + _varint(len(frame)) + frame
        fields = parse_message(frame)
        depth = 0
        while isinstance(fields, tuple):
            fields, depth = fields[0].value, depth + 1
        assert depth <= MAX_DEPTH + 1

    def test_rendered_like_decode_raw_and_as_plain_values(self):
        decoded = decode_frame(PROTO)
        assert one_line(decoded) == '1: 150 2: "hi" 3 {1: 1}'
        assert plain(decoded.value) == {"1": 150, "2": "hi", "3": {"1": 1}}
        assert detail_lines(decoded) == ["1: 150", '2: "hi"', "3 {", "  1: 1", "}"]

    def test_repeated_fields_become_a_list(self):
        assert plain(parse_message(b"\x08\x01\x08\x02\x08\x03")) == {"1": [1, 2, 3]}


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


class TestRendering:
    def test_one_line_is_compact_and_escaped(self):
        assert one_line(decode_frame('{"a": "\\u001b\u202e"}'.encode())) == '{"a":"\\u001b\\u202e"}'
        assert one_line(decode_frame(b"line\nnext")) == "line\\nnext"
        assert one_line(decode_frame(msgpack.packb({1: b"\x00"}))) == '{"1":{"hex":"00"}}'
        assert one_line(decode_frame(b"\x00\xff"), limit=40) == "00 ff"
        assert one_line(decode_frame(b"x" * 100), limit=10) == "xxxxxxxxxx…"

    def test_non_finite_floats_as_json_writes_them(self):
        assert one_line(decode_frame(msgpack.packb({"x": float("nan")}))) == '{"x":NaN}'

    def test_json_ready_frames(self):
        assert decoded_plain(decode_frame(b"\x00\xff")) == {"decoder": "hex", "hex": "00ff"}
        assert decoded_plain(decode_frame(b"\x00\xff", "raw")) == {
            "decoder": "raw",
            "base64": "AP8=",
        }
        assert decoded_plain(decode_frame(b"x", "json"))["error"].startswith("not JSON")
        ext = decode_frame(msgpack.packb([msgpack.ExtType(5, b"\x01")]))
        assert decoded_plain(ext)["value"] == [{"ext": 5, "hex": "01"}]
        json.dumps(decoded_plain(decode_frame(PROTO)))

    def test_hex_dump(self):
        assert hex_dump(b"AB\x00") == [f"00000000  41 42 00{' ' * 39}  |AB.|"]
        assert len(hex_dump(bytes(40))) == 3
        assert hex_dump(b"") == ["(empty frame)"]

    def test_detail_keeps_text_lines_and_indents_json(self):
        assert detail_lines(decode_frame(b"a\nb\x1b")) == ["a", "b\\x1b"]
        assert detail_lines(decode_frame(b'{"a":1}')) == ["{", '  "a": 1', "}"]


class TestMessages:
    def test_multipart_topic_and_payload(self):
        message = decode_message([b"md.AAPL", msgpack.packb({"bid": 1}), b"{}"])
        assert message.topic == b"md.AAPL"
        assert [p.decoder for p in message.parts] == ["msgpack", "json"]
        assert message.summary() == '{"bid":1} │ {}'
        assert message.to_plain()["topic"] == "md.AAPL"

    def test_a_leading_token_is_cut_from_the_payload(self):
        message = decode_message([b'log.warn {"msg": "disk"}'])
        assert message.topic == b"log.warn" and message.parts[0].value == {"msg": "disk"}
        assert decode_message([b"10001 23 45"]).summary() == "23 45"

    def test_no_topic(self):
        message = decode_message([b'{"a": 1}'])
        assert message.topic is None and message.topic_text() == ""
        assert decode_message([b"a", b"b"], rule="none").summary() == "a │ b"

    def test_overrides_by_topic_prefix_longest_first(self):
        decoders = DecoderMap({"md.": "msgpack", "md.raw.": "hex"})
        assert decoders.decoder_for(b"md.AAPL") == "msgpack"
        assert decoders.decoder_for(b"md.raw.X") == "hex"
        assert decoders.decoder_for(b"other") == "auto"
        assert decoders.decoder_for(None) == "auto"
        message = decode_message([b"md.AAPL", b"not msgpack"], decoders=decoders)
        assert message.failed and message.parts[0].error.startswith("not msgpack")

    def test_the_users_choice_for_a_message_wins(self):
        decoders = DecoderMap({"md.": "msgpack"})
        message = decode_message([b"md.X", b"\x01"], decoders=decoders, decoder="hex")
        assert message.parts[0].decoder == "hex" and not message.failed

    def test_a_bad_decoder_name_in_a_map_is_refused(self):
        with pytest.raises(ValueError, match="not 'yaml'"):
            DecoderMap({"x": "yaml"})


@given(st.binary(max_size=300))
def test_no_decoder_ever_raises(frame):
    for name in CHOICES:
        decoded = decode_frame(frame, name)
        one_line(decoded, limit=80)
        detail_lines(decoded)
        json.dumps(decoded_plain(decoded))


def test_a_huge_frames_head_reads_as_text_or_hex_without_the_rest() -> None:
    cut = decode_head("é".encode() * 10, 5)  # a two-byte character cut in half at the end
    assert (cut.decoder, cut.value, len(cut.frame)) == ("text", "éé", 20)
    assert decode_head(b"\x00\x01" * 10, 4).decoder == "hex"
    assert decode_message([b"x" * 100], head_over=10).summary() == "x" * 10
    assert decode_message([b"a", b"x" * 100], skip_over=10, rule="none").summary() == "a"


def test_a_huge_frames_detail_escapes_only_the_lines_it_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The detail shows 500 lines of a frame: a frame of megabytes is escaped for those only."""
    from zmqtui.decoders import render

    escaped: list[int] = []
    for name in ("printable", "printable_json", "printable_json_text"):
        real = getattr(render, name, None)

        def counted(text, _real=real, **options) -> str:
            escaped.append(len(text))
            return _real(text, **options)

        monkeypatch.setattr(render, name, counted, raising=False)
    rows = json.dumps([{"id": i, "note": "\u202e"} for i in range(100_000)]).encode()
    lines = "\n".join(f"line {i}\x1b" for i in range(100_000)).encode()
    for frame in (rows, msgpack.packb(json.loads(rows)), lines, bytes(range(256)) * 4000):
        shown = detail_lines(decode_frame(frame), 500)
        assert len(shown) == 500 and "\u202e" not in "".join(shown) and "\x1b" not in "".join(shown)
    assert sum(escaped) < 100_000
    assert detail_lines(decode_frame(b"a\rb\tc\n"), 500) == ["a\\rb\tc"]
