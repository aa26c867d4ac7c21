"""The lasting request history: what a line keeps, its bound, several writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from zmqtui.history import History, HistoryRecord, state_dir
from zmqtui.request_spec import RequestSpec


def record(number: int, **changes) -> HistoryRecord:
    spec = RequestSpec(
        f"tcp://127.0.0.1:{60000 + number}", (f'json:{{"n": {number}}}',), name=f"r{number}"
    )
    return HistoryRecord(spec, 1_700_000_000_000 + number, **changes)


def test_the_state_dir_follows_xdg():
    assert str(state_dir({"XDG_STATE_HOME": "/s"})) == "/s/zmqtui"
    assert str(state_dir({"HOME": "/h"})) == "/h/.local/state/zmqtui"


def test_kept_across_instances_newest_first(tmp_path):
    ok = record(1, reply='json:{"content": "x"}', latency_ms=1.5, environment="dev")
    failed = record(2, error="no reply after 3 tries", latency_ms=7500.0)
    History(tmp_path / "h.jsonl").append(ok)
    History(tmp_path / "h.jsonl").append(failed)

    assert History(tmp_path / "h.jsonl").load() == [failed, ok]


def test_a_load_run_keeps_how_it_was_sent_and_a_single_send_writes_no_numbers(tmp_path):
    load = record(1, reply="50/50 answered, 900/s", count=50, concurrency=8)
    single = record(2, reply="text:pong")
    History(tmp_path / "h.jsonl").append(load)
    History(tmp_path / "h.jsonl").append(single)

    assert History(tmp_path / "h.jsonl").load() == [single, load]
    assert "count" not in single.to_wire() and load.to_wire()["concurrency"] == 8


def test_the_default_file_is_in_the_state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    History().append(record(1))
    assert (tmp_path / "zmqtui" / "history.jsonl").exists()


def test_bounded_to_the_newest(tmp_path):
    history = History(tmp_path / "h.jsonl", limit=3)
    for number in range(10):
        history.append(record(number))

    assert [r.spec.name for r in history.load()] == ["r9", "r8", "r7"]


def test_trimmed_by_size_to_the_newest_that_fit_in_half(tmp_path):
    path = tmp_path / "h.jsonl"
    history = History(path, limit=100, max_bytes=0)  # as small as it goes: two longest lines
    big = "text:" + "x" * 100_000
    for number in range(12):
        history.append(record(number, reply=big))
        assert path.stat().st_size <= history.max_bytes
    names = [r.spec.name for r in history.load()]
    assert names == [f"r{n}" for n in range(11, 11 - len(names), -1)]  # the newest, in order
    assert 2 <= len(names) <= history.max_bytes // len(big)


def test_an_append_never_reads_the_file_below_its_bound(tmp_path, monkeypatch):
    """It used to read the whole file after every append, to count its records."""
    path = tmp_path / "h.jsonl"
    history = History(path, limit=3)
    reads = []
    opened = Path.open

    def counting_open(self, mode="r", *args, **kwargs):
        if self == path and "r" in mode:
            reads.append(mode)
        return opened(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    for number in range(20):
        history.append(record(number))
    assert reads == []
    assert len(history.load()) == 3


def test_lines_that_cannot_be_read_are_skipped_not_fatal(tmp_path):
    path = tmp_path / "h.jsonl"
    history = History(path)
    history.append(record(1))
    with path.open("a") as file:
        file.write('not json\n{"frames": 3}\n{"v": 1, "sent_ms": 5, "end')  # cut by a crash
    history.append(record(2))

    assert [r.spec.name for r in history.load()] == ["r2", "r1"]


def test_too_long_a_record_is_not_kept(tmp_path):
    path = tmp_path / "h.jsonl"
    history = History(path)
    history.append(record(1))
    before = path.read_bytes()
    spec = RequestSpec("e", ("text:" + "x" * 300_000,))

    assert history.append(HistoryRecord(spec, 1)) is False
    assert path.read_bytes() == before, "nothing of it was written"
    assert History(path).load() == [record(1)]


@pytest.mark.parametrize(
    ("query", "found"), [("R1", [1, 12]), ('60002 "n"', [2]), ("", [1, 2, 12]), ("r1 x", [])]
)
def test_a_search_needs_every_word_in_name_endpoint_or_frames(query, found):
    records = [record(1), record(2), record(12)]
    assert [r for r in records if r.spec.matches(query)] == [record(n) for n in found]


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "h.jsonl"

    def write(offset: int) -> None:
        history = History(path, limit=1000)
        for number in range(offset, offset + 100):
            history.append(record(number))

    threads = [threading.Thread(target=write, args=(n * 1000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(History(path, limit=1000).load()) == 400
