"""zmqtui.text.printable: what reaches a terminal from the wire."""

from __future__ import annotations

import json

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
