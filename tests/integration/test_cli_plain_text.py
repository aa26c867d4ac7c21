"""What the commands print from a peer is plain text: controls escaped, `--json` still JSON."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator

import pytest
import zmq
from click.testing import CliRunner
from helpers import Lines, stop

from zmqtui.cli import main
from zmqtui.protocol import ChangeEvent, now_ms
from zmqtui.services import sockets

HOSTILE = "a\x1b]0;PWNED\x07b\x1b[2J\u009b2J\u202ec"
"""An OSC title change, a screen erase (7-bit and 8-bit CSI), a right-to-left override."""
RAW_CONTROLS = ("\x1b", "\x07", "\u009b", "\u202e")


def assert_no_raw_controls(text: str) -> None:
    assert not [c for c in RAW_CONTROLS if c in text], text


@contextlib.contextmanager
def answering(ctx: zmq.Context, reply: Callable[[dict], object]) -> Iterator[str]:
    """A REP on loopback answering every request with `reply(request)` as JSON, on a thread."""
    rep = ctx.socket(zmq.REP)
    sockets.configure(rep)
    endpoint = sockets.bind(rep, "tcp://127.0.0.1:0", curve=False)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            if rep.poll(50):
                rep.send(json.dumps(reply(json.loads(rep.recv())), ensure_ascii=False).encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        done.set()
        thread.join(5)
        rep.close(linger=0)


def run(*args: str):
    return CliRunner().invoke(main, [*args, "--timeout", "3000", "--tries", "1"])


def worker(**fields) -> dict:
    return {"slot": 0, "pid": 41, "state": "ready", **fields}


def listing(*workers: dict) -> dict:
    return {"ok": True, "pid": 40, "timestamp": 1, "routing": "lb", "workers": list(workers)}


class TestCtl:
    def test_replies_are_printed_escaped(self, ctx):
        with answering(ctx, lambda r: {"ok": True, "message": f"scaled {HOSTILE}"}) as endpoint:
            result = run("ctl", "scale", "2", "--control", endpoint)
        assert result.exit_code == 0
        assert result.stdout == "scaled a\\x1b]0;PWNED\\x07b\\x1b[2J\\x9b2J\\u202ec\n"

    def test_a_refusal_is_printed_escaped(self, ctx):
        with answering(ctx, lambda r: {"ok": False, "error": HOSTILE}) as endpoint:
            result = run("ctl", "kill", "7", "--control", endpoint)
        assert result.exit_code == 1
        assert_no_raw_controls(result.stderr)
        assert "\\x1b[2J" in result.stderr

    def test_list_is_printed_escaped(self, ctx):
        reply = listing(worker(state=HOSTILE, last_exit=f"killed {HOSTILE}"))
        reply["endpoints"] = {"frontend": HOSTILE}
        with answering(ctx, lambda r: reply) as endpoint:
            result = run("ctl", "list", "--control", endpoint)
        assert result.exit_code == 0, result.output
        assert_no_raw_controls(result.stdout)
        assert result.stdout.count("\\u202ec") == 3

    def test_a_list_with_fields_of_the_wrong_type_is_told_not_a_traceback(self, ctx):
        reply = listing(worker(latency_ms="fast"))
        with answering(ctx, lambda r: reply) as endpoint:
            result = run("ctl", "list", "--control", endpoint)
        assert result.exit_code == 2
        assert not isinstance(result.exception, TypeError | ValueError)
        assert f"zmqtui ctl: {endpoint} answered with a " in result.stderr
        assert "worker field 'latency_ms' must be float or null, not 'fast'" in result.stderr

    def test_json_stays_json_with_controls_escaped(self, ctx):
        reply = {"ok": True, "message": HOSTILE, "note": "café"}
        with answering(ctx, lambda r: reply) as endpoint:
            result = run("ctl", "list", "--control", endpoint, "--json")
        assert_no_raw_controls(result.stdout)
        assert json.loads(result.stdout) == reply
        assert "café" in result.stdout


class TestRequest:
    def test_a_reply_is_printed_escaped(self, ctx):
        with answering(ctx, lambda r: {"content": HOSTILE, "pid": 9}) as endpoint:
            result = run("request", "a.txt", "--connect", endpoint)
        assert result.exit_code == 0
        assert_no_raw_controls(result.stdout)

    def test_an_error_reply_is_printed_escaped(self, ctx):
        error = {"code": HOSTILE, "message": HOSTILE}
        with answering(ctx, lambda r: {"error": error, "pid": 9}) as endpoint:
            result = run("request", "a.txt", "--connect", endpoint)
        assert result.exit_code == 1
        assert result.stderr.count("\\u202ec") == 2
        assert_no_raw_controls(result.stderr)

    def test_json_stays_json_with_controls_escaped(self, ctx):
        reply = {"content": f"é {HOSTILE}", "pid": 9, "timestamp": 5}
        with answering(ctx, lambda r: reply) as endpoint:
            result = run("request", "a.txt", "--connect", endpoint, "--json")
        assert result.exit_code == 0
        assert_no_raw_controls(result.stdout)
        assert json.loads(result.stdout) == reply

    def test_a_summary_is_printed_escaped(self, ctx):
        error = {"code": HOSTILE, "message": "no"}
        with answering(ctx, lambda r: {"error": error, "pid": 9}) as endpoint:
            human = run("request", "a.txt", "--connect", endpoint, "--count", "2")
            as_json = run("request", "a.txt", "--connect", endpoint, "--count", "2", "--json")
        assert human.exit_code == as_json.exit_code == 1
        assert_no_raw_controls(human.stdout)
        assert_no_raw_controls(as_json.stdout)
        assert json.loads(as_json.stdout)["errors_by_code"] == {HOSTILE: 2}


@pytest.mark.integration
def test_subscribe_escapes_controls_in_json_lines_and_notes(processes, tcp_endpoint, ctx):
    endpoint = tcp_endpoint()
    xpub = ctx.socket(zmq.XPUB)
    xpub.setsockopt(zmq.LINGER, 0)
    xpub.bind(endpoint)
    subscriber = processes.start("subscribe", "--connect", endpoint, "--json")
    assert xpub.poll(10_000), "the subscriber never subscribed"
    xpub.recv()
    now = now_ms()
    events = [
        ChangeEvent("plain.txt", now, "modified", 1, "A", 7),
        ChangeEvent(HOSTILE, now, "modified", 1, HOSTILE, 8),
        ChangeEvent("end.txt", now, "modified", 3, HOSTILE, 8),
    ]
    for change in events:
        xpub.send(change.encode())
    out, err = Lines(subscriber.stdout), Lines(subscriber.stderr)
    out.wait("end.txt")
    assert stop(subscriber, signal.SIGTERM) == 0
    lines, warnings = out.finish(), err.finish()
    assert [json.loads(line) for line in lines] == [e.to_wire() for e in events]
    assert len(warnings) == 2 and "new publisher" in warnings[0] and "gap" in warnings[1]
    assert_no_raw_controls("\n".join(lines + warnings))
