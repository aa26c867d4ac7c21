"""Structural diffs of decoded values: changed, added and removed fields with their paths."""

from __future__ import annotations

import math

from zmqtui.structdiff import MISSING, Change, format_path, structural_diff


def test_equal_values_have_no_changes():
    value = {"a": [1, {"b": None}], "c": math.nan}
    assert structural_diff(value, {"a": [1, {"b": None}], "c": math.nan}) == []


def test_changed_added_and_removed_fields_with_their_paths():
    old = {"price": 1.5, "user": {"id": 42, "tags": ["a", "b"]}, "seq": 5}
    new = {"price": 1.6, "user": {"id": 42, "tags": ["a"], "name": "x"}, "note": True}
    assert structural_diff(old, new) == [
        Change("changed", ("price",), 1.5, 1.6),
        Change("removed", ("user", "tags", 1), old="b"),
        Change("added", ("user", "name"), new="x"),
        Change("removed", ("seq",), old=5),
        Change("added", ("note",), new=True),
    ]


def test_types_that_differ_are_changes():
    assert [c.path for c in structural_diff([1, 1, 0, "1"], [1.0, True, None, 1])] == [
        (0,), (1,), (2,), (3,)
    ]  # fmt: skip
    assert structural_diff({"a": 1}, [1]) == [Change("changed", (), {"a": 1}, [1])]


def test_paths_in_jq_notation():
    assert format_path(()) == "."
    assert format_path(("user", "id")) == ".user.id"
    assert format_path(("items", 2, "name")) == ".items[2].name"
    assert format_path((0, "a")) == ".[0].a"
    assert format_path(("a b", "x.y")) == '.["a b"].["x.y"]'
    assert format_path(("\x1b[31m",)) == '.["\\u001b[31m"]'


def test_a_change_described_in_a_line():
    assert Change("changed", ("price",), 1.5, 1.6).describe() == "changed .price: 1.5 → 1.6"
    assert Change("added", ("note",), new="x").describe() == 'added .note: "x"'
    assert Change("removed", ("seq",), old=5).describe() == "removed .seq: 5"
    long = Change("changed", ("s",), "a" * 100, "b").describe(limit=10)
    assert long == 'changed .s: "aaaaaaaaa… → "b"'
    assert Change("added", ("x",)).old is MISSING
