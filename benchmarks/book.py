"""The book's Node.js responders (tests/node), run beside ours where Node.js can load zeromq.

`zmq-filer-rep.js` (a REP socket) and `zmq-filer-rep-cluster.js` (a ROUTER/DEALER master
forking REP workers) are the book's scripts, changed only to take their endpoints from the
environment. Both log two lines per request, as the book's do: that cost is theirs. Their
output goes to a file, so reading it costs the measuring process nothing.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import zmq

from benchmarks.common import REPO, Child, Children
from zmqtui.services import sockets

NODE_DIR = REPO / "tests" / "node"
NODE = shutil.which("node")


def unavailable() -> str | None:
    """Why the book's scripts cannot run here, or None when they can."""
    if NODE is None:
        return "Node.js is not installed"
    if not (NODE_DIR / "node_modules" / "zeromq").is_dir():
        return f"zeromq is not installed for Node.js: run `npm ci --ignore-scripts` in {NODE_DIR}"
    probe = subprocess.run(
        [NODE, "-e", "require('zeromq/v5-compat')"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode != 0:
        return f"Node.js cannot load zeromq: {probe.stderr.strip()[-200:]}"
    return None


def free_loopback_endpoint() -> str:
    """A TCP endpoint on a port free a moment ago (the scripts bind the port they are given)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def start_rep(children: Children, root: Path, scratch: Path, probe_path: str) -> tuple[Child, str]:
    """The book's REP responder serving `root`; returns it once it answers."""
    endpoint = free_loopback_endpoint()
    child = children.start(
        [str(NODE), str(NODE_DIR / "zmq-filer-rep.js")],
        cwd=root,
        env={"ZMQ_ENDPOINT": endpoint},
        output=scratch / "node-rep.log",
    )
    wait_until_answering(endpoint, probe_path)
    return child, endpoint


def start_cluster(
    children: Children, root: Path, scratch: Path, workers: int, probe_path: str
) -> tuple[Child, str]:
    """The book's cluster (a master and `workers` forked REP workers); returns it once the
    workers answer."""
    endpoint = free_loopback_endpoint()
    child = children.start(
        [str(NODE), str(NODE_DIR / "zmq-filer-rep-cluster.js")],
        cwd=root,
        env={
            "ZMQ_ENDPOINT": endpoint,
            "ZMQ_WORKERS": str(workers),
            "ZMQ_DEALER": str(scratch / "node-cluster.ipc"),
        },
        output=scratch / "node-cluster.log",
    )
    wait_until_answering(endpoint, probe_path, answers=4 * workers)
    return child, endpoint


def wait_until_answering(
    endpoint: str, path: str, *, answers: int = 1, timeout: float = 30.0
) -> None:
    """Ask for `path` until `answers` replies came back in a row (Lazy Pirate: a fresh REQ
    socket after each missed reply); `RuntimeError` past `timeout`."""
    ctx = zmq.Context()
    deadline = time.monotonic() + timeout
    got = 0
    try:
        while got < answers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the book's responder at {endpoint} did not answer")
            sock = ctx.socket(zmq.REQ)
            sockets.configure(sock, max_message_bytes=None)
            try:
                sock.connect(endpoint)
                while got < answers:
                    sock.send(json.dumps({"path": path}).encode())
                    if not sock.poll(500, zmq.POLLIN):
                        break
                    sock.recv()
                    got += 1
            finally:
                sock.close(linger=0)
    finally:
        ctx.destroy(linger=0)
