"""Topic rules: where a feed's messages carry their topic."""

from __future__ import annotations

import pytest

from zmqtui.topics import leading_token, parse_topic_rule, topic_of


class TestAuto:
    def test_frame_zero_of_a_multipart_message(self):
        assert topic_of([b"md.AAPL", b'{"bid": 1}']) == b"md.AAPL"

    def test_leading_token_of_a_single_frame(self):
        assert topic_of([b"10001 23 45"]) == b"10001"

    def test_a_single_json_frame_has_none(self):
        assert topic_of([b'{"type": "changed", "file": "a"}']) is None

    def test_an_empty_message_has_none(self):
        assert topic_of([]) is None


class TestRules:
    def test_frame0_gives_a_single_frame_no_topic(self):
        assert topic_of([b"10001 23 45"], "frame0") is None
        assert topic_of([b"t", b"x"], "frame0") == b"t"

    def test_token_reads_the_first_frame_of_a_multipart_message(self):
        assert topic_of([b"log warn disk full", b"x"], "token") == b"log"

    def test_none(self):
        assert topic_of([b"t", b"x"], "none") is None

    def test_an_unknown_rule_is_refused_naming_the_rules(self):
        with pytest.raises(ValueError, match="auto, frame0, token, none"):
            parse_topic_rule("first")
        assert parse_topic_rule("token") == "token"


class TestLeadingToken:
    def test_separators_topics_use(self):
        assert leading_token(b"sensor/7 21.5") == b"sensor/7"
        assert leading_token(b"log:warn-x_y.z disk") == b"log:warn-x_y.z"

    @pytest.mark.parametrize(
        "frame",
        [
            b" leading space",
            b"noSpaceAtAll",
            b"x" * 33 + b" too long",
            b"caf\xc3\xa9 not ascii",
            b"tab\there",
            b'{"a": 1}',
            b"[1, 2]",
            b"",
        ],
    )
    def test_is_none_without_a_short_printable_word_and_a_space(self, frame):
        assert leading_token(frame) is None

    def test_the_longest_token_taken(self):
        assert leading_token(b"x" * 32 + b" y") == b"x" * 32
