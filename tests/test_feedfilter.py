"""The filter for any feed: text, /regex/, field queries with @feed and @topic, errors."""

from __future__ import annotations

import msgpack
import pytest

from zmqtui.decoders import decode_message
from zmqtui.feedfilter import NO_FILTER, FilterError, parse_filter, searchable_text

QUOTE = decode_message([b"md.AAPL", msgpack.packb({"bid": 101.5, "venue": "XNAS"})])
LOG = decode_message([b'log.warn {"level": "warn", "msg": "Disk full"}'])
WEATHER = decode_message([b"10001 23 45"])


def passing(expression: str) -> list[str]:
    chosen = parse_filter(expression)
    messages = {"quote": ("market", QUOTE), "log": ("logs", LOG), "weather": ("wx", WEATHER)}
    return [name for name, (feed, message) in messages.items() if chosen.matches(feed, message)]


def test_nothing_filters_nothing():
    assert parse_filter("  ") is NO_FILTER and not NO_FILTER.active
    assert passing("") == ["quote", "log", "weather"]


def test_text_is_case_insensitive_over_topic_and_payload():
    assert passing("disk FULL") == ["log"]
    assert passing("aapl") == ["quote"]
    assert passing("23 45") == ["weather"]
    assert searchable_text(LOG) == 'log.warn {"level":"warn","msg":"Disk full"}'


def test_regex():
    assert passing("/^md\\./") == ["quote"]
    assert passing("/D[i]sk") == ["log"]
    with pytest.raises(FilterError, match="bad regular expression"):
        parse_filter("/(/")


def test_field_queries_and_message_fields():
    assert passing("bid>100") == ["quote"]
    assert passing("level=warn") == ["log"]
    assert passing("@feed=market") == ["quote"]
    assert passing("@topic~^log") == ["log"]
    assert passing("@feed!=market level=warn") == ["log"]
    assert passing("@feed=market bid>200") == []
    assert parse_filter("bid>100").kind == "query"


def test_feed_and_topic_compare_as_the_screen_shows_them():
    """The topics view writes a feed or topic with control characters escaped: it matches."""
    message = decode_message([b"md.\x1b[2J", b"{}"])
    escaped = parse_filter("@feed='bus\\x1b[31m' @topic='md.\\x1b[2J'")
    assert escaped.matches("bus\x1b[31m", message)
    assert not escaped.matches("bus", message)


def test_no_topic_has_its_own_spelling():
    """`@topic=null` is a topic named null; messages without a topic are `@notopic=true`."""
    named_null = decode_message([b"null", b"{}"])
    untopical = decode_message([b"{}"])
    assert parse_filter("@topic=null").matches("f", named_null)
    assert not parse_filter("@topic=null").matches("f", untopical)
    assert parse_filter("@notopic=true").matches("f", untopical)
    assert not parse_filter("@notopic=true").matches("f", named_null)


def test_bad_queries_say_why():
    with pytest.raises(FilterError, match="nothing to compare with"):
        parse_filter("bid>")
    with pytest.raises(FilterError, match="the message fields are @feed, @topic and @notopic"):
        parse_filter("@host=a")
