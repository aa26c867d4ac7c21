"""`zmqtui serve` and `zmqtui request` as real processes over loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import zmq
from helpers import TARGET_TEXT, wait_for_sync

from zmqtui.services import sockets

pytestmark = pytest.mark.integration

WAIT = 20.0
"""How long to wait for a process to say or finish something (matters only on failure)."""


class Output:
    """Collects a child's stdout lines on a thread, so waiting for one never blocks."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        try:
            for line in proc.stdout:
                self.lines.append(line.rstrip("\n"))
        except (OSError, ValueError):  # the pipe was closed when the test cleaned up
            return

    def wait_line(self, start: str) -> str:
        return wait_for_sync(
            lambda: next((line for line in self.lines if line.startswith(start)), None), WAIT
        )

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def start_serve(processes, served_root: Path, endpoint: str, *extra: str):
    proc = processes.start("serve", "--root", str(served_root), "--bind", endpoint, *extra)
    output = Output(proc)
    listening = output.wait_line("Listening for zmq requesters on ")
    assert listening == f"Listening for zmq requesters on {endpoint}"
    return proc, output


def request(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zmqtui", "request", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
        env=None if env is None else {**os.environ, **env},
    )


def test_request_prints_reply_error_json_and_summary(processes, served_root, tcp_endpoint):
    endpoint = tcp_endpoint()
    server, output = start_serve(processes, served_root, endpoint)

    plain = request("target.txt", "--connect", endpoint)
    assert plain.returncode == 0, plain.stderr
    lines = plain.stdout.splitlines()
    assert lines[0] == "Sending a request for target.txt"
    assert lines[1].startswith(f"Received response from pid {server.pid} at ")
    assert lines[2:] == [TARGET_TEXT.strip()]
    output.wait_line("Received request: target.txt")

    as_json = request("target.txt", "--json", env={"ZMQTUI_REQ": endpoint})
    assert as_json.returncode == 0, as_json.stderr
    reply = json.loads(as_json.stdout)
    assert (reply["content"], reply["pid"]) == (TARGET_TEXT, server.pid)

    missing = request("../secret", "--connect", endpoint)
    assert missing.returncode == 1
    assert "OUTSIDE_ROOT" in missing.stderr and "Traceback" not in missing.stderr
    output.wait_line("Replied with error OUTSIDE_ROOT")

    load = request("target.txt", "--connect", endpoint, "--count", "30", "--concurrency", "3")
    assert load.returncode == 0, load.stderr
    assert "Sent 30 of 30 requests for target.txt" in load.stdout
    assert f"Replies by pid: {server.pid}: 30" in load.stdout
    assert "Errors:         none" in load.stdout

    failing = request("nope", "--connect", endpoint, "--count", "4", "--json")
    assert failing.returncode == 1
    summary = json.loads(failing.stdout)
    assert summary["errors_by_code"] == {"NOT_FOUND": 4}
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"}


def test_serve_answers_garbage_and_goes_on(processes, served_root, ipc_endpoint, ctx):
    endpoint = ipc_endpoint("filer")
    _, output = start_serve(processes, served_root, endpoint)
    sock = ctx.socket(zmq.REQ)
    sockets.configure(sock)
    sockets.connect(sock, endpoint)
    try:
        for frames in ([b"\xff"], [b'{"path": 1}'], [b"a", b"b"]):
            sock.send_multipart(frames)
            assert sock.poll(int(WAIT * 1000)), frames
            assert "error" in json.loads(sock.recv())
    finally:
        sock.close(linger=0)
    good = request("target.txt", "--connect", endpoint)
    assert good.returncode == 0 and TARGET_TEXT.strip() in good.stdout
    output.wait_line("Received a bad request; replied with error BAD_JSON")


def test_request_with_nobody_listening_exits_3(tcp_endpoint):
    endpoint = tcp_endpoint()
    result = request("target.txt", "--connect", endpoint, "--timeout", "200", "--tries", "2")
    assert result.returncode == 3
    assert f"no reply from {endpoint} after 2 tries of 200 ms" in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serve_quiet_limits_and_closes_on_signal(processes, served_root, ipc_endpoint, signum):
    endpoint = ipc_endpoint("filer")
    server, output = start_serve(processes, served_root, endpoint, "--quiet", "--max-bytes", "5")
    big = request("target.txt", "--connect", endpoint)
    assert big.returncode == 1 and "TOO_LARGE" in big.stderr
    server.send_signal(signum)
    assert server.wait(timeout=WAIT) == 0
    wait_for_sync(lambda: "Shutting down" in output.lines)
    assert "Received request" not in output.text
    assert "Traceback" not in server.stderr.read()


def test_serve_refuses_a_public_bind(processes, served_root, tcp_endpoint):
    port = tcp_endpoint().rpartition(":")[2]
    proc = processes.start("serve", "--root", str(served_root), "--bind", f"tcp://0.0.0.0:{port}")
    assert proc.wait(timeout=WAIT) == 2
    assert "not a loopback address" in proc.stderr.read()


def test_serve_needs_an_existing_directory(processes, tmp_path):
    proc = processes.start("serve", "--root", str(tmp_path / "missing"))
    assert proc.wait(timeout=WAIT) == 2
    assert "does not exist" in proc.stderr.read()
