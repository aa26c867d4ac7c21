"""Field queries for the filter: paths, operators, types, and errors fit to show."""

from __future__ import annotations

import pytest

from zmqtui.decoders import decode_frame, decode_message, plain
from zmqtui.fieldquery import QueryError, looks_like_query, parse_query, values_at

MESSAGE = {
    "level": "warn",
    "bid": 101.5,
    "size": 300,
    "ok": True,
    "note": None,
    "msg": "disk full on /dev/sda1",
    "user": {"id": 42, "name": "ada"},
    "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 5}],
    "tags": ["urgent", "disk"],
}


def matches(query: str, value=MESSAGE) -> bool:
    return parse_query(query).matches(value)


class TestMatching:
    @pytest.mark.parametrize(
        "query",
        [
            "level=warn",
            "level==warn",
            "bid>100",
            "bid>=101.5",
            "size<301",
            "size<=300",
            "size=300.0",
            "user.id=42",
            "user.name!=bob",
            "items.1.sku=B2",
            "items.-1.qty=5",
            "items.sku=A1",
            "items.qty>4",
            "tags=urgent",
            "ok=true",
            "note=null",
            r"msg~sd[a-z]\d",
            'msg~"disk full"',
            "msg!~^error",
            "level>vast",
            "missing!=x",
            "level=warn bid>100",
        ],
    )
    def test_holds(self, query):
        assert matches(query), query

    @pytest.mark.parametrize(
        "query",
        [
            "level=WARN",
            "bid>200",
            "user.id=43",
            "items.2.sku=A1",
            "items.qty>9",
            "tags=calm",
            "ok=false",
            "ok=1",
            "note=0",
            "missing=x",
            "missing~.",
            "user>3",
            "level>3",
            "size>abc",
            "level=warn bid>200",
        ],
    )
    def test_does_not_hold(self, query):
        assert not matches(query), query

    def test_a_string_number_matches_its_text(self):
        assert matches("id=42", {"id": "42"}) and not matches("id>41", {"id": "42"})

    def test_msgpack_maps_keyed_by_numbers_and_protobuf_fields(self):
        assert matches("1=one", {1: "one"})
        proto = plain(decode_frame(b"\x08\x96\x01\x1a\x02\x08\x07").value)
        assert matches("1=150", proto) and matches("3.1=7", proto)

    def test_any_frame_of_a_message(self):
        assert parse_query("a=1").matches_any([{"b": 2}, {"a": 1}])
        assert not parse_query("a=1").matches_any(["text", None])

    def test_a_decoded_message(self):
        message = decode_message([b"md.X", b"text", b'{"bid": 101}', b"\x08\x05"])
        assert message.values() == [{"bid": 101}, {"1": 5}]
        assert parse_query("bid>100").matches_any(message.values())

    def test_values_at_a_path(self):
        assert list(values_at(MESSAGE, ("items", "sku"))) == ["A1", "B2"]
        assert list(values_at(MESSAGE, ("user", "id", "x"))) == []


class TestErrors:
    @pytest.mark.parametrize(
        ("query", "message"),
        [
            ("", "empty query"),
            ("warn", "is not FIELD OP VALUE"),
            ("=5", "is not FIELD OP VALUE"),
            ("user..id=1", "empty step"),
            ("bid>", "nothing to compare with after >"),
            ("msg~(", "bad regular expression"),
            ('msg="open', "cannot read the query"),
        ],
    )
    def test_clear_messages(self, query, message):
        with pytest.raises(QueryError, match=message):
            parse_query(query)

    def test_an_empty_value_is_the_empty_string(self):
        assert matches("name=", {"name": ""}) and not matches("name=", {"name": "x"})


def test_what_looks_like_a_query():
    assert looks_like_query("level=warn") and looks_like_query(" bid>100 level=warn")
    for text in ("", "disk full", "/a=b/", "error", "=5", "bid > 100"):
        assert not looks_like_query(text), text
