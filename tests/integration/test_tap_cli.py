"""`zmqtui tap` as a real process between clients and a service, under load."""

from __future__ import annotations

import collections
import json
import signal
import subprocess
import sys
import time

import pytest
import zmq
from click.testing import CliRunner
from helpers import CHILD_TIMEOUT, EchoRouter, Lines, stop, wait_for_sync

from zmqtui.commands.tap import command as tap_command
from zmqtui.services.conversations import ConversationsReader

CLIENTS = 8
IN_FLIGHT = 8
PER_CLIENT = 1250
"""8 DEALER clients with 8 requests in flight each: 64 in flight, 10,000 requests."""
WAIT = 30.0
PID = b', "pid": 7}'
"""What the service adds to each request (a JSON object) to make its reply."""


def start_tap(processes, listen: str, forward: str, *extra: str):
    proc = processes.start("tap", "--listen", listen, "--forward", forward, *extra)
    errors = Lines(proc.stderr)
    assert (
        errors.wait("^Tapping clients on ")
        == f"Tapping clients on {listen}, forwarding to {forward}"
    )
    if "--pairs" in extra:
        errors.wait("^Publishing pairs on ")
    return proc, Lines(proc.stdout), errors


def run_dealers(ctx: zmq.Context, endpoint: str) -> dict[bytes, int]:
    """Every client's requests, `IN_FLIGHT` at a time; each reply must be one of the client's
    own requests still waiting (with `PID` added). Returns the replies each client got."""
    poller = zmq.Poller()
    waiting: dict[zmq.Socket, set[bytes]] = {}
    sent: dict[zmq.Socket, int] = {}
    got: dict[bytes, int] = collections.Counter()
    for n in range(CLIENTS):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.ROUTING_ID, f"client-{n}".encode())
        sock.connect(endpoint)
        poller.register(sock, zmq.POLLIN)
        waiting[sock], sent[sock] = set(), 0

    def send_next(sock: zmq.Socket) -> None:
        body = f'{{"client": "{sock.getsockopt(zmq.ROUTING_ID).decode()}", "n": {sent[sock]}}}'
        sock.send_multipart([b"", body.encode()])
        waiting[sock].add(body[:-1].encode() + PID)
        sent[sock] += 1

    for sock in waiting:
        for _ in range(IN_FLIGHT):
            send_next(sock)
    deadline = time.monotonic() + WAIT
    while any(waiting.values()):
        assert time.monotonic() < deadline, f"replies missing: {sum(map(len, waiting.values()))}"
        for sock, _ in poller.poll(1000):
            while True:
                try:
                    delimiter, body = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                assert delimiter == b""
                waiting[sock].remove(body)  # KeyError: another client's reply, or a duplicate
                got[sock.getsockopt(zmq.ROUTING_ID)] += 1
                if sent[sock] < PER_CLIENT:
                    send_next(sock)
    for sock in waiting:
        sock.close(linger=0)
    return got


@pytest.mark.integration
def test_ten_thousand_requests_at_64_in_flight_are_paired(processes, ctx, tcp_endpoint):
    echo = EchoRouter(ctx, tcp_endpoint(), lambda body: [body[0][:-1] + PID])
    reader = ConversationsReader(ctx, published := tcp_endpoint())  # the monitor's v view reads
    try:
        listen = tcp_endpoint()
        tap, pairs, errors = start_tap(
            processes, listen, echo.endpoint, "--json", "--pairs", published
        )
        reader.start()
        wait_for_sync(lambda: any(e.event == "connected" for e in reader.events()))
        got = run_dealers(ctx, listen)
        assert got == {f"client-{n}".encode(): PER_CLIENT for n in range(CLIENTS)}
        wait_for_sync(lambda: len(pairs.lines) >= CLIENTS * PER_CLIENT, CHILD_TIMEOUT)
        wait_for_sync(lambda: reader.view(0).pairs >= CLIENTS * PER_CLIENT, CHILD_TIMEOUT)
        assert stop(tap, signal.SIGINT) == 0
    finally:
        reader.stop()
        echo.close()
    view = reader.view(0)
    assert (view.pairs, view.no_reply, view.malformed) == (CLIENTS * PER_CLIENT, 0, 0)
    assert {(row.name, row.pairs) for row in view.clients} == {
        (f"client-{n}", PER_CLIENT) for n in range(CLIENTS)
    }
    assert [(row.name, row.pairs) for row in view.workers] == [("7", CLIENTS * PER_CLIENT)]
    lines = [json.loads(line) for line in pairs.finish()]
    assert len(lines) == CLIENTS * PER_CLIENT
    assert collections.Counter(line["client"] for line in lines) == {
        f"client-{n}": PER_CLIENT for n in range(CLIENTS)
    }
    for line in lines:
        assert line["reply"] == line["request"][:-1] + PID.decode()
        assert f'"client": "{line["client"]}"' in line["request"]
        assert line["pid"] == 7 and line["latency_ms"] >= 0
    assert errors.finish()[-1] == (
        "Tapped 10,000 requests: 10,000 pairs, 0 without a reply in time, 0 given up,"
        " 0 late and 0 unmatched replies, 0 not printed (the printer fell behind)"
    )


@pytest.mark.integration
def test_a_request_the_service_leaves_unanswered_is_flagged(processes, ctx, tcp_endpoint):
    service = ctx.socket(zmq.ROUTER)
    service.setsockopt(zmq.LINGER, 0)
    service.bind(forward := tcp_endpoint())
    listen = tcp_endpoint()
    tap, pairs, errors = start_tap(processes, listen, forward, "--timeout-ms", "100")
    client = ctx.socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(listen)
    client.send(b'{"path": "never.txt"}')
    flagged = pairs.wait("no reply")
    assert flagged.endswith('!! no reply in 100 ms        json:{"path": "never.txt"}')
    assert stop(tap, signal.SIGTERM) == 0
    client.close(linger=0)
    service.close(linger=0)
    assert ", 1 without a reply in time," in errors.finish()[-1]


@pytest.mark.parametrize(
    ("listen", "forward", "says"),
    [
        ("tcp://192.0.2.1:5555", "tcp://127.0.0.1:5556", "not a loopback address"),
        ("tcp://127.0.0.1:5555", "tcp://127.0.0.1:99999", "port"),
    ],
)
def test_an_endpoint_it_cannot_use_exits_2_saying_why(listen, forward, says):
    result = CliRunner().invoke(tap_command, ["--listen", listen, "--forward", forward])
    assert result.exit_code == 2
    assert says in result.output
    assert "Tapped" not in result.output


@pytest.mark.integration
def test_quiet_prints_no_pair_and_the_tap_ends_with_its_owner(processes, ctx, tcp_endpoint):
    """What `zmqtui --with-tap` relies on: pairs only published, and no tap outliving the
    monitor that started it."""
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    echo = EchoRouter(ctx, tcp_endpoint())
    try:
        listen = tcp_endpoint()
        tap, pairs, errors = start_tap(
            processes, listen, echo.endpoint, "--quiet", "--owner-pid", str(owner.pid)
        )
        client = ctx.socket(zmq.REQ)
        client.setsockopt(zmq.LINGER, 0)
        client.connect(listen)
        client.send(b"ping")
        assert client.poll(int(WAIT * 1000)) and client.recv() == b"ping"
        client.close(linger=0)
        owner.kill()
        owner.wait()
        assert tap.wait(timeout=CHILD_TIMEOUT) == 0
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        echo.close()
    assert pairs.finish() == []
    said = errors.finish()
    assert f"zmqtui tap: process {owner.pid} is gone: stopping" in said
    assert said[-1].startswith("Tapped 1 request: 1 pair,")
