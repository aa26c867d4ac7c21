"""The book's Node.js responders (tests/node), run beside ours where Node.js can load zeromq.

`zmq-filer-rep.js` (a REP socket) and `zmq-filer-rep-cluster.js` (a ROUTER/DEALER master
forking REP workers) are the book's scripts, changed only to take their endpoints from the
environment. Both log two lines per request, as the book's do: that cost is theirs. Their
output goes to a file, so reading it costs the measuring process nothing.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import psutil
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


BIND_WAIT_S = 10.0
"""Longest wait for one of the book's scripts to listen on its port."""


def free_loopback_endpoint() -> str:
    """A TCP endpoint on a port free a moment ago (the scripts bind the port they are given)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def start_rep(children: Children, root: Path, scratch: Path, probe_path: str) -> tuple[Child, str]:
    """The book's REP responder serving `root`; returns it once it answers."""
    return start_script(
        children, "zmq-filer-rep.js", root, scratch / "node-rep.log", probe_path, answers=1
    )


def start_cluster(
    children: Children, root: Path, scratch: Path, workers: int, probe_path: str
) -> tuple[Child, str]:
    """The book's cluster (a master and `workers` forked REP workers); returns it once the
    workers answer."""
    return start_script(
        children,
        "zmq-filer-rep-cluster.js",
        root,
        scratch / "node-cluster.log",
        probe_path,
        answers=4 * workers,
        env={"ZMQ_WORKERS": str(workers), "ZMQ_DEALER": str(scratch / "node-cluster.ipc")},
    )


def start_script(
    children: Children,
    script: str,
    root: Path,
    log: Path,
    probe_path: str,
    *,
    answers: int,
    env: dict[str, str] | None = None,
    attempts: int = 3,
) -> tuple[Child, str]:
    """One of the book's scripts serving `root` on a free loopback port, once it answers.

    The port is free when picked but the script binds it a moment later, and the book's
    scripts go on without a word when their bind fails: one that does not listen on its port
    within `BIND_WAIT_S` (taken meanwhile by another process) is started again on another.
    """
    for _ in range(attempts):
        endpoint = free_loopback_endpoint()
        child = children.start(
            [str(NODE), str(NODE_DIR / script)],
            cwd=root,
            env={"ZMQ_ENDPOINT": endpoint, **(env or {})},
            output=log,
        )
        port = int(endpoint.rsplit(":", 1)[1])
        if listens(child, port) and wait_until_answering(
            endpoint, probe_path, child, log, answers=answers
        ):
            return child, endpoint
        children.stop(child)
    raise RuntimeError(f"{script} never listened on its port, {attempts} times: {tail(log)}")


def listens(child: Child, port: int) -> bool:
    """Whether `child` listens on TCP `port` within `BIND_WAIT_S` (False: it exited, or its
    bind failed)."""
    deadline = time.monotonic() + BIND_WAIT_S
    while time.monotonic() < deadline and child.process.poll() is None:
        with contextlib.suppress(psutil.Error):
            for connection in psutil.Process(child.process.pid).net_connections(kind="tcp"):
                if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                    return True
        time.sleep(0.05)
    return False


def wait_until_answering(
    endpoint: str, path: str, child: Child, log: Path, *, answers: int, timeout: float = 30.0
) -> bool:
    """Ask for `path` until `answers` replies came back in a row (Lazy Pirate: a fresh REQ
    socket after each missed reply); False if `child` exits first, `RuntimeError` past
    `timeout`."""
    ctx = zmq.Context()
    deadline = time.monotonic() + timeout
    got = 0
    try:
        while got < answers:
            if child.process.poll() is not None:
                return False
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the book's responder at {endpoint} did not answer: {tail(log)}"
                )
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
    return True


def tail(log: Path, chars: int = 500) -> str:
    """The end of what a script printed, for an error."""
    return log.read_text(errors="replace")[-chars:].strip() if log.exists() else "(no output)"
