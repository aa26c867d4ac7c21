"""A bare libzmq proxy for the tap benchmark: ROUTER to DEALER joined by `zmq.proxy`, no
capture. What one more hop costs on this machine, the floor under what the tap adds.

    python -m benchmarks.bare_proxy FORWARD   # prints "Proxying on tcp://127.0.0.1:PORT"
"""

from __future__ import annotations

import sys

import zmq


def main() -> None:
    ctx = zmq.Context()
    frontend = ctx.socket(zmq.ROUTER)
    port = frontend.bind_to_random_port("tcp://127.0.0.1")
    backend = ctx.socket(zmq.DEALER)
    backend.connect(sys.argv[1])
    print(f"Proxying on tcp://127.0.0.1:{port}", flush=True)
    zmq.proxy(frontend, backend)


if __name__ == "__main__":
    main()
