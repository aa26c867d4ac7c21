"""The tap's capture side end to end in one process: Tap -> PairPublisher -> ConversationsReader;
and a failed CURVE handshake said in plain words."""

from __future__ import annotations

import pytest
import zmq
from helpers import EchoRouter, wait_for_sync

from zmqtui.security.handshake import socket_event_words
from zmqtui.services.conversations import ConversationsReader
from zmqtui.services.tap import PairPublisher, Tap

WAIT_MS = 5000


@pytest.fixture
def reader_on(ctx):
    readers: list[ConversationsReader] = []

    def start(endpoint: str) -> ConversationsReader:
        reader = ConversationsReader(ctx, endpoint)
        reader.start()
        readers.append(reader)
        return reader

    yield start
    for reader in readers:
        reader.stop()


def events_until(reader: ConversationsReader, name: str) -> list[str]:
    seen: list[str] = []
    wait_for_sync(lambda: seen.extend(e.event for e in reader.events()) or name in seen)
    return seen


def test_what_the_tap_publishes_is_counted_by_client_and_worker(ctx, ipc_endpoint, reader_on):
    echo = EchoRouter(ctx, ipc_endpoint("echo"), lambda body: [b'{"ok": true, "pid": 42}'])
    tap = Tap(ctx, ipc_endpoint("tap"), echo.endpoint)
    publisher = PairPublisher(ctx, ipc_endpoint("pairs"))
    try:
        tap.start()
        reader = reader_on(publisher.bound)
        assert events_until(reader, "connected") == ["connecting", "connected"]
        clients = []
        for n in range(3):
            req = ctx.socket(zmq.REQ)
            req.setsockopt(zmq.LINGER, 0)
            req.setsockopt(zmq.RCVTIMEO, WAIT_MS)
            req.setsockopt(zmq.ROUTING_ID, f"client-{n}".encode())
            req.connect(tap.bound)
            clients.append(req)
            for _ in range(n + 1):
                req.send(b'{"path": "a.txt"}')
                assert req.recv() == b'{"ok": true, "pid": 42}'
        wait_for_sync(lambda: publisher.publish(tap.drain()) or reader.generation >= 6)
        publisher.sock.send(b"not json")
        wait_for_sync(lambda: reader.view(10).malformed == 1)
    finally:
        for sock in clients:
            sock.close(linger=0)
        tap.stop()
        publisher.close()
        echo.close()
    view = reader.view(4)
    assert (view.pairs, view.no_reply, len(view.recent)) == (6, 0, 4)
    assert view.recent[-1].request == 'json:{"path": "a.txt"}'
    assert view.recent[-1].pid == 42 and view.recent[-1].latency_ms >= 0
    assert [(row.name, row.pairs) for row in view.clients] == [
        ("client-2", 3),
        ("client-1", 2),
        ("client-0", 1),
    ]
    assert [(row.name, row.pairs) for row in view.workers] == [("42", 6)]


def test_a_reader_of_a_tap_not_yet_up_says_it_retries(ctx, tcp_endpoint, reader_on):
    reader = reader_on(tcp_endpoint())
    assert "retrying" in events_until(reader, "retrying")


@pytest.mark.parametrize(
    ("trusted", "authorised", "says"),
    [
        (False, True, "the server's key does not match"),
        (True, False, "this client's key is not authorised (the server said 400)"),
    ],
    ids=["wrong server key", "client not authorised"],
)
def test_a_failed_curve_handshake_is_said_in_plain_words(
    ctx, tcp_endpoint, trusted, authorised, says
):
    from zmq.auth.thread import ThreadAuthenticator

    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    auth = ThreadAuthenticator(ctx)
    auth.start()
    server = ctx.socket(zmq.ROUTER)
    client = ctx.socket(zmq.DEALER)
    monitor = None
    try:
        auth.configure_curve(
            domain="*", location=zmq.auth.CURVE_ALLOW_ANY if authorised else "/nonexistent"
        )
        server.curve_server = True
        server.curve_secretkey, server.curve_publickey = server_secret, server_public
        endpoint = tcp_endpoint()
        server.bind(endpoint)
        client.curve_secretkey, client.curve_publickey = client_secret, client_public
        client.curve_serverkey = server_public if trusted else zmq.curve_keypair()[0]
        monitor = client.get_monitor_socket()
        client.connect(endpoint)
        words: list[tuple[str, str]] = []

        def failed() -> bool:
            if monitor.poll(100):
                event = zmq.utils.monitor.recv_monitor_message(monitor)
                said = socket_event_words(event["event"], event["value"], curve_client=True)
                words.extend([said] if said else [])
            return ("handshake failed", says) in words

        wait_for_sync(failed)
    finally:
        if monitor is not None:
            client.disable_monitor()
            monitor.close(linger=0)
        client.close(linger=0)
        server.close(linger=0)
        auth.stop()
