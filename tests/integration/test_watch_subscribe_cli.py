"""`zmqtui watch` and `zmqtui subscribe` as the user runs them: subprocesses on free ports."""

from __future__ import annotations

import json
import re
import signal
import time

import pytest
import zmq
from helpers import Lines, stop

from zmqtui.commands.subscribe import human_line, js_date, printable
from zmqtui.protocol import ChangeEvent, now_ms

TIMEOUT = 10.0


@pytest.mark.integration
def test_watch_and_subscribe_like_the_book(processes, tcp_endpoint, tmp_path):
    (tmp_path / "target.txt").write_text("start\n")
    endpoint = tcp_endpoint()
    watcher = processes.start("watch", "target.txt", "--bind", endpoint, cwd=tmp_path)
    watcher_out, watcher_err = Lines(watcher.stdout), Lines(watcher.stderr)
    assert watcher_out.wait("Listening") == f"Listening for zmq subscribers on {endpoint}"
    subscriber = processes.start("subscribe", "--connect", endpoint)
    out, err = Lines(subscriber.stdout), Lines(subscriber.stderr)

    deadline = time.monotonic() + TIMEOUT  # the subscriber joins late: change until it prints
    while not any("target.txt" in line for line in out.lines):
        assert time.monotonic() < deadline, (out.lines, err.lines)
        with open(tmp_path / "target.txt", "a") as f:
            f.write("change\n")
        time.sleep(0.2)
    line = out.wait("target.txt")
    year = time.localtime().tm_year
    assert re.fullmatch(rf"File target\.txt changed at \w{{3}} \w{{3}} \d\d {year} .+", line)

    assert stop(subscriber, signal.SIGINT) == 0
    assert stop(watcher, signal.SIGTERM) == 0
    assert err.finish() == [] and watcher_err.finish() == []


@pytest.mark.integration
def test_subscribe_reports_gaps_restarts_and_malformed_messages(processes, tcp_endpoint, ctx):
    endpoint = tcp_endpoint()
    xpub = ctx.socket(zmq.XPUB)
    xpub.setsockopt(zmq.LINGER, 0)
    xpub.bind(endpoint)
    everything = processes.start("subscribe", "--connect", endpoint, "--json")
    filtered = processes.start(
        "subscribe", "--connect", endpoint, "--prefix", "src/", "--prefix", '{"bad'
    )
    expected = {b"\x01", b'\x01{"type":"changed","file":"src/', b'\x01{"bad'}
    seen: set[bytes] = set()
    while seen != expected:  # both subscribers are connected and subscribed: no slow joiner
        assert xpub.poll(TIMEOUT * 1000), f"subscriptions so far: {seen}"
        seen.add(xpub.recv())

    now = now_ms()  # an old timestamp would be reported as a subscriber falling behind

    def send(file: str, seq: int, publisher: str) -> None:
        xpub.send(ChangeEvent(file, now, "modified", seq, publisher, 7).encode())

    send("src/a", 1, "A")
    send("other/x", 2, "A")
    xpub.send(b'{"bad\x1b[31m \xff')  # not a change event: any feed's message, in hex
    xpub.send('{"type":"changed","file":"src/\u202e","timestamp":"soon"}'.encode())
    send("src/b", 4, "A")
    send("src/c", 1, "B")

    json_out, json_err = Lines(everything.stdout), Lines(everything.stderr)
    human_out, human_err = Lines(filtered.stdout), Lines(filtered.stderr)
    json_out.wait("src/c")
    human_out.wait("src/c")
    assert stop(everything, signal.SIGTERM) == 0 and stop(filtered, signal.SIGINT) == 0

    objects = [json.loads(line) for line in json_out.finish()]
    assert [obj.get("file") for obj in objects] == ["src/a", "other/x", None, "src/b", "src/c"]
    assert objects[0] == {
        "type": "changed", "file": "src/a", "timestamp": now,
        "event": "modified", "seq": 1, "publisher": "A", "pid": 7,
    }  # fmt: skip
    assert objects[2]["topic"] is None
    assert objects[2]["frames"] == [
        {"decoder": "hex", "hex": '{"bad\x1b[31m \xff'.encode("latin-1").hex()}
    ]
    warnings = json_err.finish()
    assert len(warnings) == 3, warnings
    malformed, gap, restart = warnings
    assert "malformed message" in malformed and "\\xe2\\x80\\xae" in malformed
    assert "\u202e" not in malformed
    assert "gap: missed 1 event(s) from publisher A (seq 3)" in gap
    assert "publisher restarted: B" in restart

    lines = human_out.finish()
    assert [line.split(" changed at ")[0] for line in lines if line.startswith("File")] == [
        "File src/a", "File src/b", "File src/c"
    ]  # fmt: skip
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} 7b 22 62 61 64 1b 5b 33 31 6d 20 ff", lines[1])
    warnings = human_err.finish()  # filtered: the seq gaps are not gaps, restarts still count
    assert len(warnings) == 2 and "malformed" in warnings[0] and "restarted" in warnings[1]
    assert not any("Traceback" in line for line in warnings)


@pytest.mark.integration
def test_watch_refuses_missing_paths_busy_and_public_endpoints(
    processes, tcp_endpoint, ctx, tmp_path
):
    missing = processes.start("watch", str(tmp_path / "nope.txt"))
    (tmp_path / "here.txt").write_text("here\n")
    public = processes.start("watch", str(tmp_path / "here.txt"), "--bind", "tcp://0.0.0.0:1")
    endpoint = tcp_endpoint()
    squatter = ctx.socket(zmq.PUB)
    try:
        squatter.setsockopt(zmq.LINGER, 0)
        squatter.bind(endpoint)
        busy = processes.start("watch", str(tmp_path / "here.txt"), "--bind", endpoint)
        assert busy.wait(timeout=TIMEOUT) == 2
    finally:
        squatter.close(linger=0)
    assert "already in use" in busy.stderr.read()
    assert missing.wait(timeout=TIMEOUT) == 2
    assert "nope.txt' does not exist" in missing.stderr.read()
    assert public.wait(timeout=TIMEOUT) == 2
    assert "not a loopback address" in public.stderr.read()


class TestOutput:
    def test_human_line_like_the_book(self):
        event = ChangeEvent("target.txt", 1_700_000_000_000)
        assert human_line(event) == f"File target.txt changed at {js_date(1_700_000_000_000)}"

    def test_date_like_javascripts_date_to_string(self):
        assert re.fullmatch(
            r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \w{3} \d\d \d{4} \d\d:\d\d:\d\d GMT[+-]\d{4} \(.+\)",
            js_date(1_700_000_000_000),
        )
        assert js_date(10**20) == f"{10**20} ms after the epoch"  # never a traceback

    def test_hostile_file_names_stay_on_one_line(self):
        assert printable("plain name.txt") == "plain name.txt"
        assert printable("evil\x1b[2J\nname\ud800") == "evil\\x1b[2J\\nname\\ud800"
