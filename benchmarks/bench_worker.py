"""A cluster worker with its file reading swapped out, for the ceiling and slow-worker runs.

`python -m benchmarks.bench_worker [--answer constant] [--delay-ms N --slow-slots 0,..] WORKER
OPTIONS...` runs exactly `zmqtui worker` (same sockets, envelopes, heartbeats and counters) with
`FileRules` replaced: `--answer constant` replies with a reply prepared once at start (the same
bytes a file reply for `--path` would be, without touching the disk per request); `--delay-ms`
sleeps before answering in the slots listed in `--slow-slots`. The cluster starts it through
`ClusterConfig.worker_command`, so nothing in zmqtui itself knows about benchmarks.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from zmqtui.commands import worker as worker_command
from zmqtui.services import worker as worker_service
from zmqtui.services.filer import FileRules


@dataclass(frozen=True, slots=True)
class ConstantAnswer:
    """Looks like `filer.Answer` to the worker: always the same successful reply."""

    reply: bytes
    ok: bool = True

    def encode(self) -> bytes:
        return self.reply


class ConstantRules:
    """Answers every request with one reply read from disk once, at start."""

    def __init__(self, root: Path, max_bytes: int, path: str) -> None:
        request = json.dumps({"path": path}).encode()
        answer = FileRules(root, max_bytes).respond([request])
        if not answer.ok:
            raise SystemExit(f"bench_worker: cannot prepare a constant reply for {path}")
        self._answer = ConstantAnswer(answer.encode())

    def respond(self, frames: list[bytes]) -> ConstantAnswer:
        return self._answer


class DelayedRules(FileRules):
    """The real rules, after sleeping `delay` seconds on every request."""

    def __init__(self, root: Path, max_bytes: int, delay: float) -> None:
        super().__init__(root, max_bytes)
        self.delay = delay

    def respond(self, frames: list[bytes]):
        time.sleep(self.delay)
        return super().respond(frames)


def rules_factory(options: argparse.Namespace, slot: int | None) -> Callable[..., object]:
    if options.answer == "constant":
        return lambda root, max_bytes=0: ConstantRules(root, max_bytes, options.path)
    if options.delay_ms and slot in options.slow_slots:
        return lambda root, max_bytes=0: DelayedRules(root, max_bytes, options.delay_ms / 1000)
    return FileRules


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_worker")
    parser.add_argument("--answer", choices=("file", "constant"), default="file")
    parser.add_argument("--path", default="small.txt", help="file the constant reply carries")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument(
        "--slow-slots", type=lambda s: {int(x) for x in s.split(",") if x}, default=set()
    )
    options, rest = parser.parse_known_args(argv)
    slot = int(rest[rest.index("--slot") + 1]) if "--slot" in rest else None
    worker_service.FileRules = rules_factory(options, slot)  # what Worker.__init__ builds
    worker_command.command.main(args=rest, prog_name="zmqtui worker")


if __name__ == "__main__":
    main()
