"""`python -m benchmarks [--quick] [--only NAME] [--runs N] [--out FILE.json]`.

Runs the benchmarks one after the other, prints a Markdown table for each (the machine and
versions first) and writes everything, every run's figure included, to a JSON file.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path

from benchmarks.common import Table, machine, machine_header
from benchmarks.options import Options

BENCHMARKS = {
    "requests": "benchmarks.throughput",
    "book": "benchmarks.versus_book",
    "watcher": "benchmarks.watcher",
    "startup": "benchmarks.startup",
    "monitor": "benchmarks.flood",
    "tap": "benchmarks.tap",
    "record": "benchmarks.recording",
}
"""Name -> module with `run(options) -> list[Table]`, in the order they run."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run zmqtui's benchmarks; print Markdown tables and write a JSON file.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        choices=list(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--runs", type=int, help="runs per figure [default: 5, quick: 1]")
    parser.add_argument(
        "--clients", type=int, default=1, help="load generator processes [default: 1]"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("benchmark-results.json"), help="JSON results file"
    )
    args = parser.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.clients < 1:
        parser.error("--clients must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every benchmark stops the processes it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    options = Options.make(quick=args.quick, runs=args.runs, clients=args.clients)
    info = machine()
    print("## zmqtui benchmarks\n")
    print(machine_header(info) + "\n", flush=True)
    results: dict[str, object] = {}
    failed = False
    for name in args.only or BENCHMARKS:
        began = time.monotonic()
        try:
            tables: list[Table] = importlib.import_module(BENCHMARKS[name]).run(options)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed = True
            print(f"### {name}: FAILED\n\n    {type(exc).__name__}: {exc}\n", flush=True)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        for table in tables:
            print(table.markdown() + "\n", flush=True)
        results[name] = {
            "seconds": round(time.monotonic() - began, 1),
            "tables": [table.to_wire() for table in tables],
        }
    info["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    document = {"machine": info, "options": dataclasses.asdict(options), "benchmarks": results}
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"Results written to {args.out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
