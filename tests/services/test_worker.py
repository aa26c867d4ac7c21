"""One worker against scripted backends: both envelopes, heartbeats, counters, its exits."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from click.testing import CliRunner
from helpers import wait_for_sync

from zmqtui.commands.worker import command as worker_command
from zmqtui.config import ConfigError
from zmqtui.protocol import ErrorReply, FileReply, decode_reply
from zmqtui.services.broker import DRAIN, MAX_CREDIT, make_broker
from zmqtui.services.worker import (
    READY,
    CounterFile,
    Counters,
    Worker,
    WorkerConfig,
    decode_heartbeat,
    heartbeat_endpoint_for,
)

TIMEOUT_MS = 5000


@pytest.fixture
def root(tmp_path: Path) -> Path:
    served = tmp_path / "root"
    served.mkdir()
    (served / "a.txt").write_text("A")
    return served


class Backend:
    """A scripted broker side: the backend socket and the heartbeat PULL."""

    def __init__(self, ctx: zmq.Context, kind: int, endpoint: str) -> None:
        self.sock = ctx.socket(kind)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoint)
        self.beats = ctx.socket(zmq.PULL)
        self.beats.setsockopt(zmq.LINGER, 0)
        self.beats.bind(heartbeat_endpoint_for(endpoint))

    def recv(self) -> list[bytes]:
        assert self.sock.poll(TIMEOUT_MS), "the worker sent nothing"
        return self.sock.recv_multipart()

    def reply(self) -> list[bytes]:
        """The next message that is not a READY (which an idle worker sends with heartbeats)."""
        while is_ready(frames := self.recv()):
            pass
        return frames

    def ready(self) -> tuple[int, int]:
        """The next message, a READY from worker w1: its credit and the requests it took."""
        frames = self.recv()
        assert frames[:3] == [b"w1", b"", READY] and len(frames) == 5, frames
        return int(frames[3]), int(frames[4])

    def beat(self, final: bool = False):
        while True:
            assert self.beats.poll(TIMEOUT_MS), "no heartbeat"
            beat = decode_heartbeat(self.beats.recv())
            assert beat is not None
            if beat.final or not final:
                return beat


def is_ready(frames: list[bytes]) -> bool:
    return frames[1:3] == [b"", READY] and len(frames) == 5


@pytest.fixture
def run_worker(root: Path, tmp_path: Path) -> Iterator:
    """Runs workers in threads; stops and joins them all."""
    started: list[tuple[Worker, threading.Thread]] = []

    def start(endpoint: str, **config) -> Worker:
        worker = Worker(
            WorkerConfig(
                connect=endpoint,
                root=root,
                heartbeat_ms=config.pop("heartbeat_ms", 50),
                worker_id="w1",
                counters_path=tmp_path / "w1.counters",
                **config,
            )
        )
        thread = threading.Thread(target=worker.run)
        thread.start()
        started.append((worker, thread))
        return worker

    yield start
    for worker, thread in started:
        worker.stop.set()
        thread.join(5)
        assert not thread.is_alive()


def test_load_balanced_envelope(ctx, ipc_endpoint, run_worker, tmp_path):
    endpoint = ipc_endpoint("back")
    backend = Backend(ctx, zmq.ROUTER, endpoint)
    worker = run_worker(endpoint)
    assert backend.ready() == (MAX_CREDIT, 0)

    backend.sock.send_multipart([b"w1", b"", b"client", b"", b'{"path":"a.txt","id":"7"}'])
    wid, empty, client, delimiter, raw = backend.reply()
    assert (wid, empty, client, delimiter) == (b"w1", b"", b"client", b"")
    reply = decode_reply([raw])
    assert isinstance(reply, FileReply) and (reply.content, reply.id) == ("A", "7")

    backend.sock.send_multipart([b"w1", b"", b"client", b"", b'{"path":"nope.txt"}'])
    assert isinstance(decode_reply(backend.reply()[-1:]), ErrorReply)
    backend.sock.send_multipart([b"w1", b"", b"no delimiter"])
    counts = CounterFile(tmp_path / "w1.counters", create=False)
    try:
        wait_for_sync(lambda: counts.read().dropped == 1)
        # no reply frees its credit: a READY counts the message taken
        while (ready := backend.ready())[1] != 3:
            assert ready == (MAX_CREDIT, 2)  # a heartbeat's, sent before it took the third
        assert counts.read().requests == 2
        assert (counts.read().errors, counts.read().dropped) == (1, 1)
    finally:
        counts.close()
    beat = backend.beat()
    assert (beat.worker, beat.interval_ms) == ("w1", 50)
    worker.stop.set()
    final = backend.beat(final=True)
    assert (final.counters.requests, final.counters.errors, final.counters.dropped) == (2, 1, 1)


def test_worker_answers_all_it_holds_in_order_and_counts_them(ctx, ipc_endpoint, run_worker):
    endpoint = ipc_endpoint("back")
    backend = Backend(ctx, zmq.ROUTER, endpoint)
    run_worker(endpoint, credit=6)
    assert backend.ready() == (6, 0)
    for n in range(6):  # more than one waiting on its socket at once
        backend.sock.send_multipart([b"w1", b"", b"c%d" % n, b"", b'{"path":"a.txt"}'])
    replies = [backend.reply() for _ in range(6)]
    assert [r[2] for r in replies] == [b"c%d" % n for n in range(6)]
    assert all(json.loads(r[-1])["content"] == "A" for r in replies)
    assert backend.ready() == (6, 6)  # the next heartbeat: took six, answered them all


def test_a_stopped_worker_answers_what_it_holds_before_it_leaves(ctx, ipc_endpoint, run_worker):
    endpoint = ipc_endpoint("back")
    backend = Backend(ctx, zmq.ROUTER, endpoint)
    worker = run_worker(endpoint)
    assert backend.ready() == (MAX_CREDIT, 0)
    held = 2 * MAX_CREDIT + 1  # more than one batch of replies (a credit and a bit, twice)
    worker.stop.set()  # a restart or a scale-down, with requests already on their way
    for n in range(held):
        backend.sock.send_multipart([b"w1", b"", b"c%d" % n, b"", b'{"path":"a.txt"}'])
    replies = [backend.reply() for _ in range(held)]
    assert sorted(r[2] for r in replies) == sorted(b"c%d" % n for n in range(held))
    assert backend.beat(final=True).counters.requests == held


def test_a_drained_worker_answers_what_it_holds_and_leaves(ctx, ipc_endpoint, run_worker):
    endpoint = ipc_endpoint("back")
    backend = Backend(ctx, zmq.ROUTER, endpoint)
    worker = run_worker(endpoint)
    assert backend.ready() == (MAX_CREDIT, 0)
    for n in range(3):
        backend.sock.send_multipart([b"w1", b"", b"c%d" % n, b"", b'{"path":"a.txt"}'])
    backend.sock.send_multipart([b"w1", b"", DRAIN])
    replies = [backend.reply() for _ in range(3)]
    assert sorted(r[2] for r in replies) == [b"c0", b"c1", b"c2"]
    final = backend.beat(final=True)
    assert (final.counters.requests, final.counters.dropped) == (3, 0)
    assert worker.stop.is_set()


def test_worker_answers_what_waits_then_sends_the_replies_together(ctx, root, monkeypatch):
    """One wake-up answers every request waiting, then sends: fewer wake-ups all round."""
    backend = ctx.socket(zmq.ROUTER)
    backend.setsockopt(zmq.LINGER, 0)
    backend.bind("inproc://backend")
    work = ctx.socket(zmq.DEALER)
    work.setsockopt(zmq.LINGER, 0)
    work.setsockopt(zmq.ROUTING_ID, b"w1")
    work.connect("inproc://backend")  # inproc: a message sent is waiting at once
    work.send_multipart([b"", READY])
    assert backend.poll(TIMEOUT_MS) and backend.recv_multipart()
    worker = Worker(WorkerConfig(connect="inproc://backend", root=root, worker_id="w1"))
    events: list[str] = []
    respond, send = worker.rules.respond, worker._send
    monkeypatch.setattr(worker.rules, "respond", lambda f: events.append("answer") or respond(f))
    monkeypatch.setattr(worker, "_send", lambda w, f: events.append("send") or send(w, f))
    for n in range(4):
        backend.send_multipart([b"w1", b"", b"c%d" % n, b"", b'{"path":"a.txt"}'])

    worker._drain(work)
    assert events == ["answer"] * 4 + ["send"] * 4
    assert [backend.recv_multipart(zmq.NOBLOCK)[2] for _ in range(4)] == [
        b"c%d" % n for n in range(4)
    ]
    work.close()
    backend.close()


def test_credit_is_at_least_one(root):
    with pytest.raises(ConfigError, match="credit"):
        WorkerConfig(connect="ipc:///nowhere", root=root, credit=0)


def test_idle_worker_says_ready_with_each_heartbeat(ctx, ipc_endpoint, run_worker):
    endpoint = ipc_endpoint("back")
    backend = Backend(ctx, zmq.ROUTER, endpoint)
    run_worker(endpoint, credit=2)
    for _ in range(3):  # the first on connecting, then one per heartbeat
        assert backend.ready() == (2, 0)


async def test_worker_rejoins_a_restarted_broker_and_gets_work(actx, ipc_endpoint, run_worker):
    """A broker that restarts knows nothing of the workers; they must say READY again."""
    front, back = ipc_endpoint("front"), ipc_endpoint("back")
    run_worker(back)
    for _ in range(2):
        broker = make_broker("lb", front, back)
        broker.start()
        try:
            assert await _ask(actx, front) == "A"
        finally:
            broker.close()


async def test_worker_forgotten_while_silent_gets_work_again(actx, ipc_endpoint, run_worker):
    front, back = ipc_endpoint("front"), ipc_endpoint("back")
    broker = make_broker("lb", front, back)
    broker.start()
    try:
        # heartbeats far enough apart that the forgotten worker is seen gone before one revives it
        run_worker(back, heartbeat_ms=1000)
        wait_for_sync(lambda: broker.counters()["idle_workers"] == 1)
        broker.forget("w1", revivable=True)
        wait_for_sync(lambda: broker.counters()["idle_workers"] == 0)
        assert await _ask(actx, front) == "A"  # its next heartbeat's READY revives it
    finally:
        broker.close()


async def _ask(actx, endpoint: str) -> str:
    client = actx.socket(zmq.REQ)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(endpoint)
    try:
        await client.send(b'{"path":"a.txt"}')
        assert await client.poll(TIMEOUT_MS), "no reply: the broker never heard the worker"
        return json.loads(await client.recv())["content"]
    finally:
        client.close()


def test_round_robin_envelope(ctx, ipc_endpoint, run_worker):
    endpoint = ipc_endpoint("back")
    backend = Backend(ctx, zmq.DEALER, endpoint)
    run_worker(endpoint)
    # what the frontend ROUTER drops as unroutable (an empty routing id)
    assert backend.recv() == [b"", READY, b"%d" % MAX_CREDIT, b"0"]
    backend.sock.send_multipart([b"id1", b"id2", b"", b'{"path":"a.txt"}'])
    *envelope, raw = backend.recv()
    assert envelope == [b"id1", b"id2", b""]
    assert json.loads(raw)["content"] == "A"
    backend.sock.send_multipart([b"only one frame"])
    backend.sock.send_multipart([b"id", b"", b"not json"])
    assert decode_reply(backend.recv()[-1:]).code == "BAD_JSON"


def test_heartbeat_endpoints_follow_the_backend():
    assert heartbeat_endpoint_for("tcp://10.0.0.1:5000") == "tcp://10.0.0.1:5001"
    assert heartbeat_endpoint_for("ipc:///run/x/backend") == "ipc:///run/x/backend.heartbeat"
    with pytest.raises(ConfigError):
        heartbeat_endpoint_for("tcp://127.0.0.1:*")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"{}",
        b'{"type":"heartbeat"}',
        b'{"type":"heartbeat","worker":"","pid":1}',
        b'{"type":"heartbeat","worker":"w","pid":"x"}',
        b"\xff",
        b'{"type":"heartbeat","worker":"%s","pid":1}' % (b"w" * 129),
    ],
)
def test_malformed_heartbeats_are_ignored(raw):
    assert decode_heartbeat(raw) is None


def test_worker_ids_are_whole_or_refused(root):
    longest = "w" * 128
    beat = decode_heartbeat(b'{"type":"heartbeat","worker":"%s","pid":1}' % longest.encode())
    assert beat is not None and beat.worker == longest
    refused = CliRunner().invoke(
        worker_command,
        ["--connect", "ipc:///nowhere", "--root", str(root), "--id", longest + "w"],
    )
    assert refused.exit_code == 2 and "--id" in refused.output


def test_counter_file_keeps_counts_after_the_writer_is_gone(tmp_path):
    path = tmp_path / "c"
    reader = CounterFile.prepare(path)
    writer = CounterFile(path, create=True)
    writer.write(Counters(requests=5, errors=1, dropped=2, busy_seconds=0.5))
    writer.close()
    assert reader.read() == Counters(5, 1, 2, 0.5)
    reader.close()


@pytest.mark.integration
def test_supervised_worker_exits_when_its_stdin_closes(root, ipc_endpoint):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zmqtui",
            "worker",
            "--connect",
            ipc_endpoint("b"),
            "--root",
            str(root),
            "--supervised",
        ],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)  # it runs while the pipe is open
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
