"""What `zmqtui record` takes in at 100k msg/s offered, and how fast `zmqtui replay` publishes.

Record: a paced publisher (`benchmarks.flood_publisher`, ~130-byte change events) offers 100k
msg/s for 10 s (about a million messages) to `zmqtui record --out FILE.jsonl.zst`; once the
publisher is done and the recorder idle, the recorder is stopped and its summary read. Taken
in is what it recorded over what was sent; its CPU per message is the process's own.

Replay: that recording published by `zmqtui replay --speed max --wait-subscribers 1` to a SUB
in this process that counts every message: the rate is from the first message to the last.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import psutil
import zmq

from benchmarks.common import Child, Children, Summary, Table, python, target
from benchmarks.options import Options
from zmqtui.services import sockets

NAME = "record"
OFFERED = 100_000
RECORDED = re.compile(r"recorded ([\d,]+) messages? in ([\d.]+) s to \S+ \(([^)]*)\)")
PUBLISHING = re.compile(r"publishing \S+ on (\S+)")
REPLAYED = re.compile(r"replayed ([\d,]+) messages?")


def run(options: Options) -> list[Table]:
    seconds = 0.3 if options.quick else 10.0
    taken: list[float] = []
    record_cpu: list[float] = []
    sizes: list[str] = []
    replay_rates: list[float] = []
    complete: list[bool] = []
    with Children() as children, options.scratch() as scratch:
        publisher = children.start(python("-m", "benchmarks.flood_publisher"), stdin=True)
        endpoint = json.loads(publisher.expect(r'"endpoint"').string)["endpoint"]
        for index in range(options.runs):
            out = scratch / f"run-{index}.jsonl.zst"
            sent, recorded, cpu_s, size = record_once(children, publisher, endpoint, out, seconds)
            taken.append(100 * recorded / sent)
            record_cpu.append(cpu_s / max(recorded, 1) * 1e6)
            sizes.append(size)
            rate, all_there = replay_once(children, out, recorded)
            replay_rates.append(rate)
            complete.append(all_there)
    return [table(options, seconds, taken, record_cpu, sizes, replay_rates, complete)]


def record_once(
    children: Children, publisher: Child, endpoint: str, out: Path, seconds: float
) -> tuple[int, int, float, str]:
    """Sent, recorded, the recorder's CPU seconds and its file sizes, for one run."""
    recorder = children.start(
        python("-m", "zmqtui", "record", "--connect", endpoint, "--out", str(out))
    )
    publisher.send(json.dumps({"cmd": "wait_subscriber", "count": 1}))
    if not json.loads(publisher.readline(timeout=40))["subscribed"]:
        raise RuntimeError("the recorder never subscribed")
    process = psutil.Process(recorder.pid)
    before = process.cpu_times()  # past its start-up
    publisher.send(json.dumps({"cmd": "publish", "rate": OFFERED, "duration": seconds}))
    sent = json.loads(publisher.readline(timeout=seconds + 60))["sent"]
    idle_since = time.monotonic()
    last = process.cpu_times()
    while time.monotonic() - idle_since < 1.0:  # until it has written what it queued
        time.sleep(0.25)
        now = process.cpu_times()
        if now.user + now.system - last.user - last.system > 0.02:
            idle_since = time.monotonic()
        last = now
    cpu = last.user + last.system - before.user - before.system
    recorder.process.send_signal(signal.SIGTERM)
    match = recorder.expect(RECORDED.pattern, timeout=30)
    children.stop(recorder)
    return sent, int(match.group(1).replace(",", "")), cpu, match.group(3)


def replay_once(children: Children, recording: Path, expected: int) -> tuple[float, bool]:
    """Messages a second a SUB received from `zmqtui replay --speed max`; all of them?"""
    replay = children.start(
        python(
            "-m", "zmqtui", "replay", str(recording), "--bind", "tcp://127.0.0.1:0",
            "--speed", "max", "--wait-subscribers", "1",
        )
    )  # fmt: skip
    endpoint = replay.expect(PUBLISHING.pattern, timeout=30).group(1)
    ctx = zmq.Context()
    try:
        sub = ctx.socket(zmq.SUB)
        sockets.configure(sub)
        sub.setsockopt(zmq.RCVHWM, 100_000)
        sub.subscribe(b"")
        sub.connect(endpoint)
        counted = Counter(sub, expected)
        counted.receive()
    finally:
        ctx.destroy(linger=0)
    replay.expect(REPLAYED.pattern, timeout=30)
    children.stop(replay)
    span = (counted.last or 0.0) - (counted.first or 0.0)
    return (counted.received - 1) / span if span > 0 else 0.0, counted.received == expected


class Counter:
    """Receives until `expected` messages (or 10 s of silence), noting first and last."""

    def __init__(self, sock: zmq.Socket, expected: int) -> None:
        self.sock = sock
        self.expected = expected
        self.received = 0
        self.first: float | None = None
        self.last: float | None = None

    def receive(self) -> None:
        recv = sockets.recv_nowait
        while self.received < self.expected and self.sock.poll(10_000):
            while True:
                try:
                    recv(self.sock)
                except zmq.Again:
                    break
                self.received += 1
            now = time.perf_counter()
            self.first = self.first or now
            self.last = now


def table(
    options: Options,
    seconds: float,
    taken: list[float],
    record_cpu: list[float],
    sizes: list[str],
    replay_rates: list[float],
    complete: list[bool],
) -> Table:
    result = Table(
        "Recording: `zmqtui record` at 100k msg/s offered, `zmqtui replay --speed max` (.zst)",
        ["command", "rate", "taken in / delivered", "CPU per message", "notes"],
        units={"rate": "msg/s", "taken in / delivered": "%", "CPU per message": "µs"},
    )
    result.add(
        command="`zmqtui record`",
        rate=f"{OFFERED:,} msg/s offered for {seconds:g} s",
        **{"taken in / delivered": Summary.of(taken), "CPU per message": Summary.of(record_cpu)},
        notes="file: " + "; ".join(sorted(set(sizes))[:1]),
    )
    result.add(
        command="`zmqtui replay --speed max`",
        rate=Summary.of(replay_rates),
        **{"taken in / delivered": Summary.of([100.0 * ok for ok in complete])},
        notes="to one SUB in the benchmark's process",
    )
    result.targets.append(
        target("record: share of 100k msg/s taken in", Summary.of(taken), at_least=99.0, unit="%")
    )
    result.notes.append(
        f"{options.runs} run(s); record's figures from its own summary (messages, file size "
        "compressed and not) and its process's CPU time; replay's rate from the first message "
        "the SUB received to the last."
    )
    return result
