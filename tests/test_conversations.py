"""The conversations book: pairs read from a tap's JSON, bounded, with latency percentiles."""

from __future__ import annotations

import pytest

from zmqtui import conversations
from zmqtui.conversations import OTHERS, Conversation, ConversationBook

WIRE = {
    "time_ms": 1_767_225_600_000.5,
    "client": "client-1",
    "request": 'json:{"path":"a.txt"}',
    "request_bytes": 16,
    "reply": 'json:{"content":"hi","pid":7}',
    "reply_bytes": 30,
    "latency_ms": 1.25,
    "pid": 7,
    "no_reply": None,
}


def answered(client: str, latency: float, pid: int | None = 7) -> Conversation:
    return Conversation(0.0, client, "text:q", "text:a", latency, pid)


def unanswered(client: str) -> Conversation:
    return Conversation(0.0, client, "text:q", None, None, None, "timeout")


def test_a_pair_is_read_from_what_the_tap_publishes() -> None:
    assert Conversation.from_wire(WIRE) == Conversation(
        1_767_225_600_000.5, "client-1", WIRE["request"], WIRE["reply"], 1.25, 7
    )
    flagged = {**WIRE, "reply": None, "latency_ms": None, "pid": None, "no_reply": "timeout"}
    assert Conversation.from_wire(flagged).no_reply == "timeout"


@pytest.mark.parametrize(
    "wire",
    [
        [],
        {k: v for k, v in WIRE.items() if k != "client"},
        {**WIRE, "latency_ms": "1"},
        {**WIRE, "time_ms": float("nan")},
        {**WIRE, "pid": -1},
        {**WIRE, "pid": True},
        {**WIRE, "no_reply": "timeout"},
        {**WIRE, "reply": None},
    ],
    ids=["list", "no client", "text latency", "nan", "negative pid", "bool pid", "both", "none"],
)
def test_anything_else_is_refused(wire: object) -> None:
    with pytest.raises(ValueError):
        Conversation.from_wire(wire)


def test_percentiles_per_client_and_per_worker_over_the_latest_window(monkeypatch) -> None:
    monkeypatch.setattr(conversations, "WINDOW", 100)
    book = ConversationBook()
    for latency in range(1, 201):  # the first 100 leave the window
        book.add(answered("a", float(latency), pid=7 if latency % 2 else 8))
    book.add(unanswered("a"))
    book.add(answered("b", 5.0, pid=None))
    view = book.view(rows=3)
    assert (view.pairs, view.no_reply, len(view.recent)) == (202, 1, 3)
    a, b = view.clients
    assert (a.name, a.pairs, a.no_reply, a.p50, a.p90, a.p99) == ("a", 201, 1, 150, 190, 199)
    assert (b.name, b.pairs, b.p50) == ("b", 1, 5.0)
    assert [(w.name, w.pairs) for w in view.workers] == [("7", 100), ("8", 100)]
    assert (view.workers[0].p50, view.workers[0].p99) == (99, 197)  # odd latencies 1..199


def test_the_latest_pairs_and_the_keys_are_bounded(monkeypatch) -> None:
    monkeypatch.setattr(conversations, "MAX_KEYS", 3)
    book = ConversationBook(recent=5)
    for n in range(10):
        book.add(answered(f"c{n}", 1.0))  # c3 on are "others"
    view = book.view(rows=50, shown_keys=10)
    assert [c.client for c in view.recent] == ["c5", "c6", "c7", "c8", "c9"]
    assert [(row.name, row.pairs) for row in view.clients] == [
        (OTHERS, 7),
        ("c0", 1),
        ("c1", 1),
        ("c2", 1),
    ]


def test_a_view_changes_generation_only_when_something_came() -> None:
    book = ConversationBook()
    first = book.view(rows=5)
    assert book.view(rows=5).generation == first.generation
    book.add_malformed()
    later = book.view(rows=5)
    assert (later.generation > first.generation, later.malformed, later.recent) == (True, 1, ())
    assert book.view(rows=0).recent == ()
