"""`zmqtui subscribe` on any feed: a real PUB on loopback sending multipart msgpack and JSON
with topics, weather-style text, protobuf, binary and the book's change events."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import msgpack
import pytest
import zmq
from helpers import Lines, stop

from zmqtui.demo import KINDS, round_of

pytestmark = pytest.mark.integration
TIMEOUT = 10.0
TIME = r"\d\d:\d\d:\d\d\.\d\d\d"


def subscribed_xpub(ctx: zmq.Context, endpoint: str, subscribers: int = 1) -> zmq.Socket:
    """An XPUB bound to `endpoint`; `wait` returns once `subscribers` have subscribed."""
    xpub = ctx.socket(zmq.XPUB)
    xpub.setsockopt(zmq.LINGER, 0)
    xpub.setsockopt(zmq.XPUB_VERBOSE, 1)
    xpub.bind(endpoint)
    return xpub


def wait_subscriptions(xpub: zmq.Socket, count: int) -> list[bytes]:
    seen = []
    while len(seen) < count:
        assert xpub.poll(TIMEOUT * 1000), f"subscriptions so far: {seen}"
        seen.append(xpub.recv())
    return seen


def test_any_feed_printed_as_time_topic_and_payload(processes, tcp_endpoint, ctx):
    endpoint = tcp_endpoint()
    xpub = subscribed_xpub(ctx, endpoint)
    human = processes.start("subscribe", "--connect", endpoint)
    as_json = processes.start("subscribe", "--connect", endpoint, "--json")
    wait_subscriptions(xpub, 2)
    for index in (1, 2, 4):  # seq 3 missed on each md.* topic
        for message in round_of(index):
            xpub.send_multipart(message)
    xpub.send(b"\x1b[2J\xe2\x80\xae evil")  # controls in a text frame
    xpub.send(b'{"type": "changed"}')  # claims to be a change event, is not one
    out, err = Lines(human.stdout), Lines(human.stderr)
    json_out, json_err = Lines(as_json.stdout), Lines(as_json.stderr)
    out.wait("evil")
    json_out.wait("evil")
    assert stop(human, signal.SIGINT) == 0 and stop(as_json, signal.SIGTERM) == 0

    lines = out.finish()
    assert len(lines) == 3 * len(KINDS) + 1, lines
    first = dict(zip(KINDS, lines[: len(KINDS)], strict=True))
    assert re.fullmatch(
        rf'{TIME} md\.AAPL \{{"sym":"AAPL","bid":189\.01,.*"seq":1,.*\}}', first["md.AAPL"]
    )
    assert re.fullmatch(
        rf'{TIME} log\.warn \{{"level":"warn","msg":"disk 81% full",.*', first["log.warn"]
    )
    assert re.fullmatch(rf"{TIME} 10002 16 41", first["weather"])
    assert re.fullmatch(
        rf'{TIME} pb\.order 1: 1 2: "AAPL" 3: 0x[0-9a-f]{{16}} 4 {{1: 101 2: "XNAS"}}',
        first["pb.order"],
    )
    assert re.fullmatch(rf"{TIME} bin\.blob ([0-9a-f]{{2}} ){{23}}[0-9a-f]{{2}}", first["bin.blob"])
    assert first["book"].startswith("File notes/1.txt changed at ")
    assert re.fullmatch(rf"{TIME} \\x1b\[2J\\u202e evil", lines[-1])
    warnings = [line.removeprefix("zmqtui subscribe: warning: ") for line in err.finish()]
    assert warnings[:3] == [
        "gap: missed 1 message(s) on md.AAPL (seq 3)",
        "gap: missed 1 message(s) on md.MSFT (seq 3)",
        "gap: missed 1 event(s) from publisher unknown (seq 3)",
    ]
    assert len(warnings) == 4 and warnings[3].startswith("malformed message (")

    objects = [json.loads(line) for line in json_out.finish()]
    quote = objects[0]
    assert quote["topic"] == "md.AAPL" and quote["feed"] == endpoint and quote["seq"] == 1
    assert (
        quote["frames"][0]["decoder"] == "msgpack" and quote["frames"][0]["value"]["bid"] == 189.01
    )
    assert isinstance(quote["time_ns"], int) and isinstance(quote["lag_ms"], float)
    order = objects[KINDS.index("pb.order")]
    assert order["frames"] == [
        {
            "decoder": "protobuf",
            "value": {
                "1": 1,
                "2": "AAPL",
                "3": order["frames"][0]["value"]["3"],
                "4": {"1": 101, "2": "XNAS"},
            },
        }
    ]
    assert objects[KINDS.index("bin.blob")]["frames"][0]["decoder"] == "hex"
    assert objects[KINDS.index("weather")]["topic"] == "10002"
    assert objects[KINDS.index("book")]["file"] == "notes/1.txt"  # as it was published
    assert objects[-1]["frames"][0]["value"] == "\x1b[2J\u202e evil"
    assert "\x1b" not in "\n".join(json_out.lines) and "\u202e" not in "\n".join(json_out.lines)
    assert not any("Traceback" in line for line in json_err.finish())


def test_several_feeds_topics_and_a_forced_decoder(processes, tcp_endpoint, ctx):
    first, second = tcp_endpoint(), tcp_endpoint()
    pubs = [subscribed_xpub(ctx, first), subscribed_xpub(ctx, second)]
    both = processes.start("subscribe", "--connect", first, "--connect", second)
    forced = processes.start(
        "subscribe", "--connect", first, "--topic", "md.", "--decoder", "msgpack"
    )
    assert sorted(wait_subscriptions(pubs[0], 2)) == [b"\x01", b"\x01md."]
    wait_subscriptions(pubs[1], 1)
    pubs[0].send_multipart([b"md.A", msgpack.packb({"bid": 1})])
    pubs[0].send_multipart([b"md.B", b'{"bid": 2}'])
    pubs[0].send_multipart([b"other", b"x"])
    pubs[1].send_multipart([b"md.C", msgpack.packb([3])])
    pubs[1].send(b"last")
    out, forced_out = Lines(both.stdout), Lines(forced.stdout)
    for shown in ("md.B", "other x", "md.C", "last"):  # two feeds: no order between them
        out.wait(shown)
    forced_out.wait("md.B")
    assert stop(both, signal.SIGTERM) == 0 and stop(forced, signal.SIGTERM) == 0

    lines = sorted(line.split(" ", 1)[1] for line in out.finish())
    assert lines == sorted([
        f'[{first}] md.A {{"bid":1}}',
        f'[{first}] md.B {{"bid":2}}',
        f"[{first}] other x",
        f"[{second}] md.C [3]",
        f"[{second}] last",
    ])  # fmt: skip
    shown = [line.split(" ", 1)[1] for line in forced_out.finish()]
    assert shown[0] == 'md.A {"bid":1}'
    assert shown[1].startswith("md.B ✗ msgpack: not msgpack") and len(shown) == 2


def test_the_demo_feed(processes, tcp_endpoint):
    endpoint = tcp_endpoint()
    demo = subprocess.Popen(
        [sys.executable, "-m", "zmqtui.demo", "--bind", endpoint, "--rate", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    processes.children.append(demo)
    assert Lines(demo.stdout).wait("Publishing a mixed feed") == (
        f"Publishing a mixed feed on {endpoint} (pid {demo.pid})"
    )
    subscriber = processes.start("subscribe", "--connect", endpoint, "--json")
    out, err = Lines(subscriber.stdout), Lines(subscriber.stderr)
    out.wait("pb.order")
    out.wait("bin.blob")
    assert stop(subscriber, signal.SIGTERM) == 0 and stop(demo, signal.SIGINT) == 0
    decoders = {
        obj.get("topic"): obj["frames"][0]["decoder"]
        for obj in map(json.loads, out.finish())
        if "frames" in obj
    }
    assert {decoders[t] for t in ("md.AAPL", "md.MSFT", "log.warn", "pb.order", "bin.blob")} == {
        "msgpack", "json", "protobuf", "hex"
    }  # fmt: skip
    assert not [line for line in err.finish() if "malformed" in line or "Traceback" in line]


def test_a_configured_feed_and_its_size_limit(processes, tcp_endpoint, ctx, tmp_path):
    endpoint = tcp_endpoint()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[decoders]\n"raw." = "hex"\n'
        f'[[feeds]]\nname = "small"\nendpoint = "{endpoint}"\nsubscribe = ["raw.", "x"]\n'
        "max_message_bytes = 1000\n"
    )
    xpub = subscribed_xpub(ctx, endpoint)
    subscriber = processes.start("subscribe", "--feed", "small", "--config", str(config))
    assert sorted(wait_subscriptions(xpub, 2)) == [b"\x01raw.", b"\x01x"]
    out, err = Lines(subscriber.stdout), Lines(subscriber.stderr)
    xpub.send_multipart([b"raw.a", b"AB"])
    out.wait("raw.a")
    xpub.send_multipart([b"x", b"y" * 2000])  # over the feed's limit: libzmq ends the session
    err.wait("gave it up")
    deadline = time.monotonic() + TIMEOUT
    while not any("after" in line for line in out.lines):  # until it has connected again
        assert time.monotonic() < deadline, "never connected again"
        xpub.send_multipart([b"x", b"after"])
        time.sleep(0.1)
    assert stop(subscriber, signal.SIGTERM) == 0
    shown = [line.split(" ", 1)[1] for line in out.finish()]
    assert shown[0] == "raw.a 41 42" and set(shown[1:]) == {"x after"}
