"""Side-by-side CPU of broker versions: `python -m benchmarks.broker_ab NAME=FILE [NAME=FILE...]`.

Each FILE is a version of `zmqtui/services/broker.py` (`git show REV:zmqtui/services/broker.py >
FILE` for an older one); a NAME starting with `rr` runs that file's `RoundRobinBroker`, any other
its `LoadBalancingBroker`. Every broker runs in a thread of this process with two workers of its
own (`benchmarks.bench_worker --answer constant`), and one load generator keeps `--inflight`
requests in flight against each in turn, rounds interleaved. The figure is the broker thread's
CPU time per reply (its own CPU clock): on a loaded machine rates swing from run to run, this
moves much less. Ratios are taken round by round against the first NAME.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

WARM_UP_S = 0.4
JOIN_TIMEOUT_S = 20.0


def load_module(name: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"broker_ab_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"broker_ab: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(
    broker, loadgen: subprocess.Popen, inflight: int, duration: float
) -> tuple[float, float]:
    """(replies per second, broker thread CPU µs per reply) over one window."""
    clock = time.pthread_getcpuclockid(broker._thread.ident)
    start_at = time.time() + WARM_UP_S
    command = {
        "endpoint": broker.frontend_endpoint,
        "inflight": inflight,
        "start_at": start_at,
        "duration": duration,
        "payload": '{"path": "small.txt"}',
        "timeout": 5.0,
    }
    loadgen.stdin.write(json.dumps(command) + "\n")
    loadgen.stdin.flush()
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before = time.clock_gettime(clock)
    time.sleep(duration)
    cpu = time.clock_gettime(clock) - cpu_before
    replies = json.loads(loadgen.stdout.readline())["completed"]
    return replies / duration, cpu / max(replies, 1) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.broker_ab")
    parser.add_argument("versions", nargs="+", metavar="NAME=FILE")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=float, default=1.2, help="seconds per window")
    parser.add_argument("--inflight", type=int, default=64)
    options = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="broker-ab-"))
    (tmp / "small.txt").write_text("x" * 90)
    children: list[subprocess.Popen] = []
    brokers = {}
    try:
        for n, version in enumerate(options.versions):
            name, _, path = version.partition("=")
            module = load_module(name, path)
            kind = module.RoundRobinBroker if name.startswith("rr") else module.LoadBalancingBroker
            broker = brokers[name] = kind("tcp://127.0.0.1:0", f"ipc://{tmp}/backend{n}")
            broker.start()
            for _ in range(2):
                worker = [sys.executable, "-m", "benchmarks.bench_worker", "--answer", "constant"]
                worker += ["--connect", broker.backend_endpoint, "--root", str(tmp)]
                children.append(subprocess.Popen(worker, stdout=subprocess.DEVNULL))
        loadgen = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loadgen"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(loadgen)
        json.loads(loadgen.stdout.readline())
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for broker in brokers.values():
            while broker.routing == "lb" and broker.counters()["idle_workers"] < 2:
                if time.monotonic() > deadline:
                    raise SystemExit("broker_ab: the workers did not join")
                time.sleep(0.05)
        time.sleep(1.0)  # rr: both workers connected
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in brokers}
        for round_ in range(options.rounds):
            names = list(brokers) if round_ % 2 == 0 else list(reversed(brokers))
            for name in names:
                rate, cpu = measure(brokers[name], loadgen, options.inflight, options.duration)
                results[name].append((rate, cpu))
                print(f"round {round_} {name}: {rate:,.0f} req/s, broker {cpu:.1f} µs/req")
        first, *others = results
        for name, runs in results.items():
            cpu = statistics.median(run[1] for run in runs)
            rate = statistics.median(run[0] for run in runs)
            print(f"{name}: broker {cpu:.1f} µs per request, {rate:,.0f} req/s (medians)")
        for name in others:
            ratios = [b[1] / a[1] for a, b in zip(results[first], results[name], strict=True)]
            print(
                f"{name} / {first}, broker CPU per request, round by round: "
                f"{statistics.median(ratios):.2f} x ({min(ratios):.2f}-{max(ratios):.2f})"
            )
        loadgen.stdin.write('{"cmd": "quit"}\n')
        loadgen.stdin.flush()
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        for broker in brokers.values():
            broker.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
