"""zmqtui.text.printable: what reaches a terminal from the wire."""

from __future__ import annotations

import io
import json
import logging

from zmqtui.commands._run import PlainTextFormatter
from zmqtui.text import MULTI_LINE, printable, printable_json


def test_control_characters_and_surrogates_are_escaped() -> None:
    undecodable = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    assert printable(undecodable) == "caf\\udce9.txt"
    assert printable("evil\x1b[2J\nname\ud800") == "evil\\x1b[2J\\nname\\ud800"
    assert printable("a\u202eb\u2028c") == "a\\u202eb\\u2028c"


def test_readable_text_is_left_alone() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # joined by U+200D
    for text in ("plain name.txt", "café", "non\xa0breaking", family, "[bold]x[/bold]"):
        assert printable(text) == text


def test_multi_line_keeps_newlines_and_tabs() -> None:
    assert printable("a\n\tb\x1b", keep=MULTI_LINE) == "a\n\tb\\x1b"


def test_limit_cuts_with_an_ellipsis() -> None:
    assert printable("abcdef", limit=6) == "abcdef"
    assert printable("abcdefg", limit=6) == "abcdef…"
    assert printable("\x1b" * 10, limit=6) == "\\x1b\\x…"


def test_printable_json_escapes_what_printable_escapes_and_stays_json() -> None:
    value = {"file": "a\u009b2Jb\u202ec\x1b\x7f\u2028", "name": "café [b]", "n": [1, None]}
    out = printable_json(value)
    assert '"café [b]"' in out  # readable text kept as it is
    assert out.isprintable()
    assert "\\u009b" in out and "\\u202e" in out and "\\u001b" in out and "\\u007f" in out
    assert json.loads(out) == value
    assert printable_json(value, indent=2).count("\n") == 7
    assert json.loads(printable_json(value, indent=2)) == value


def test_printable_json_escapes_lone_surrogates_and_astral_controls() -> None:
    value = ["caf\udce9", "\U000f0000"]  # an undecodable byte; a private-use character
    out = printable_json(value)
    assert out == '["caf\\udce9","\\udb80\\udc00"]'
    assert json.loads(out) == value


def test_log_lines_quoting_a_peer_are_plain_text() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PlainTextFormatter("zmqtui cluster: %(levelname)s: %(message)s"))
    logger = logging.getLogger("test.plain_text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        host = "\x1b]0;PWNED\x07evil\x1b[2J\u202e\nfake line"
        logger.warning("remote worker %s (pid %d on %s) joined", "w1", 7, host)
        try:
            raise ValueError(f"bad host {host}")
        except ValueError:
            logger.exception("a heartbeat failed")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == (
        "zmqtui cluster: WARNING: remote worker w1 (pid 7 on "
        "\\x1b]0;PWNED\\x07evil\\x1b[2J\\u202e\\nfake line) joined"
    )
    assert lines[1] == "zmqtui cluster: ERROR: a heartbeat failed"
    assert lines[2] == "Traceback (most recent call last):"  # a traceback keeps its lines
    assert "ValueError: bad host \\x1b]0;PWNED\\x07evil\\x1b[2J\\u202e" in lines[-2]
    assert lines[-1] == "fake line"
    assert not any(c in stream.getvalue() for c in "\x1b\x07\u202e")
