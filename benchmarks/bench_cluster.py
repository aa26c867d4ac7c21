"""`zmqtui cluster` with a benchmark worker variant (`benchmarks.bench_worker`).

`python -m benchmarks.bench_cluster --root DIR --workers N --routing lb|rr --bind E --stats E
--control E [-- VARIANT OPTIONS]` runs the same `Cluster` (broker, supervisor, heartbeats,
stats) as `zmqtui cluster`, with every worker started as `python -m benchmarks.bench_worker
VARIANT OPTIONS`. It prints the same `Cluster listening ...` line once bound.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zmqtui.commands._run import run_service
from zmqtui.services.cluster import Cluster, ClusterConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_cluster")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--routing", choices=("lb", "rr"), required=True)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("variant", nargs=argparse.REMAINDER, help="bench_worker options")
    options = parser.parse_args(argv)
    variant = [arg for arg in options.variant if arg != "--"]
    config = ClusterConfig(
        root=options.root,
        workers=options.workers,
        frontend=options.bind,
        stats=options.stats,
        control=options.control,
        routing=options.routing,
        worker_command=(sys.executable, "-m", "benchmarks.bench_worker", *variant),
    )

    def announce(cluster: Cluster) -> None:
        print(
            f"Cluster listening for zmq requesters on {cluster.endpoints['frontend']}", flush=True
        )

    run_service(Cluster(config).run(on_bound=announce))


if __name__ == "__main__":
    main()
