"""Pictures of the workers and composer panes in their main states, from scripted data.

Fixed PIDs, timestamps and sizes; uptimes come from the snapshots' own timestamps, so nothing
on screen changes between runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import msgpack
import pytest
from helpers import PaneHost
from textual.pilot import Pilot
from textual.widgets import Input

from zmqtui.protocol import ClusterSnapshot, ErrorReply, FileReply, WorkerStats
from zmqtui.request_spec import RequestSpec
from zmqtui.results import LoadSummary, RequestResult, SendResult
from zmqtui.tui.panes.composer import ComposerPane
from zmqtui.tui.panes.workers import WorkersPane

SIZE = (100, 26)
T0 = 1_700_000_000_000
STATES = ("ready", "busy", "ready", "starting", "stale", "dead", "errored", "ready")


def load_at(second: int) -> int:
    """Requests each slot has answered (per unit of its weight) by `second`: a varying load."""
    return sum(20 + (tick * 7) % 23 * 3 for tick in range(second))


def cluster(second: int) -> ClusterSnapshot:
    """The cluster `second` seconds in: eight slots, one of each state, a varying load."""
    workers = [
        WorkerStats(
            slot=slot,
            pid=None if state in ("dead", "errored") else 41000 + slot,
            state=state,
            requests=(slot + 1) * load_at(second),
            errors=slot % 3,
            restarts=1 if state == "starting" else slot // 3,
            started=T0 - 3_723_000 + slot * 61_000,
            latency_ms=0.8 + slot * 0.35,
            cpu_percent=1.5 + slot * 2.25,
            memory_bytes=(28 + slot) * 1024 * 1024,
            remote=slot == 7,
            crashes=slot // 3,
            last_exit=("killed by SIGKILL", "exit code 1")[slot % 2] if slot >= 3 else None,
        )
        for slot, state in enumerate(STATES)
    ]
    at = T0 + second * 1000
    total = sum(worker.requests for worker in workers)
    return ClusterSnapshot(
        pid=4242,
        timestamp=at,
        endpoints={"frontend": "tcp://127.0.0.1:60401", "stats": "tcp://127.0.0.1:60402"},
        routing="lb",
        broker={
            "frontend_in": total * 3,
            "frontend_bytes_in": total * 120,
            "frontend_out": total * 3,
            "frontend_bytes_out": total * 2400,
            "backend_in": total * 3,
            "backend_bytes_in": total * 2400,
            "backend_out": total * 3,
            "backend_bytes_out": total * 120,
            "queued": 0,
            "idle_workers": 3,
        },
        workers=workers,
        seq=second,
    )


async def fill_workers(pilot: Pilot) -> None:
    pane = pilot.app.query_one(WorkersPane)
    for second in range(1, 50):
        pane.update_snapshot(cluster(second))
    pane.table.focus()
    await pilot.press("down")


def test_workers_pane_live(snap_compare):
    assert snap_compare(PaneHost(WorkersPane), terminal_size=SIZE, run_before=fill_workers)


def test_workers_pane_offline(snap_compare):
    async def go_offline(pilot: Pilot) -> None:
        await fill_workers(pilot)
        pilot.app.query_one(WorkersPane).set_offline(
            "no stats from tcp://127.0.0.1:60402 — is the cluster running?"
        )

    assert snap_compare(PaneHost(WorkersPane), terminal_size=SIZE, run_before=go_offline)


SOURCE = '''"""Serve files to the book's requesters."""
import zmq


def serve(port: int = 60401) -> None:
    # "[bold]" stays text: payloads are never markup
    sock = zmq.Context().socket(zmq.REP)
    sock.bind(f"tcp://127.0.0.1:{port}")
    while True:
        request = sock.recv_json()
        sock.send_json({"content": open(request["path"]).read()})
'''


def composer(root: Path | None = None) -> Callable[[], ComposerPane]:
    return lambda: ComposerPane(root)


async def steady(pilot: Pilot) -> None:
    for field in pilot.app.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def test_composer_reply(snap_compare):
    async def reply(pilot: Pilot) -> None:
        pane = pilot.app.query_one(ComposerPane)
        pane.fill("secret/../etc/passwd")
        pane.action_send()
        pane.show_result(
            RequestResult(
                path="secret/../etc/passwd",
                reply=ErrorReply("OUTSIDE_ROOT", "path leaves the served directory", T0, 41002),
                latency_ms=1.84,
                tries=1,
            )
        )
        pane.fill("zmqtui/serve.py")
        pane.action_send()
        pane.show_result(
            RequestResult(
                path="zmqtui/serve.py",
                reply=FileReply(SOURCE, T0, 41001),
                latency_ms=2.47,
                tries=2,
            )
        )
        await steady(pilot)

    assert snap_compare(PaneHost(composer()), terminal_size=SIZE, run_before=reply)


def test_composer_unavailable_and_invalid_form(snap_compare):
    async def unavailable(pilot: Pilot) -> None:
        pane = pilot.app.query_one(ComposerPane)
        pane.set_offline("no reply from tcp://127.0.0.1:60401 — is the filer running?")
        pane.fill("README.md")
        pane.action_send()
        pane.show_result(
            RequestResult(
                path="README.md",
                reply=None,
                latency_ms=7503.0,
                tries=3,
                error="unavailable after 3 tries",
            )
        )
        pane.fill("README.md", 0, 8)
        pane.action_send()
        await steady(pilot)

    assert snap_compare(PaneHost(composer()), terminal_size=SIZE, run_before=unavailable)


def test_composer_load_summary(snap_compare):
    async def load(pilot: Pilot) -> None:
        pane = pilot.app.query_one(ComposerPane)
        pane.fill("README.md", 1000, 8)
        pane.action_send()
        pane.show_progress(600, 1000)
        pane.show_summary(
            LoadSummary(
                endpoint="tcp://127.0.0.1:60401",
                path="README.md",
                count=1000,
                concurrency=8,
                sent=1000,
                replies=996,
                replies_by_pid=Counter({41000: 262, 41001: 251, 41002: 247, 41003: 240}),
                errors_by_code=Counter({"TOO_LARGE": 4}),
                retries=2,
                elapsed_s=1.25,
                latencies_ms=[0.5 + (n % 100) * 0.09 for n in range(1000)],
            )
        )
        await steady(pilot)

    assert snap_compare(PaneHost(composer()), terminal_size=SIZE, run_before=load)


MULTI_FRAME = RequestSpec(
    "tcp://127.0.0.1:60401",
    (
        'json:{"op": "quote", "symbols": ["AAPL", "MSFT"]}',
        "text:[bold]plain text[/bold]",
        "hex:00 01 fe ff",
        'json:{"limit": 10,}',
    ),
    "DEALER",
)
"""Four frames, the last one not JSON (its place marked, the reason under the frames)."""


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
def test_composer_multi_frame_message(snap_compare, size: tuple[int, int]):
    """A multi-frame message over DEALER and its reply's frames decoded, small and large."""

    async def multi_frame(pilot: Pilot) -> None:
        pane = pilot.app.query_one(ComposerPane)
        await pane.load_request(replace(MULTI_FRAME, frames=MULTI_FRAME.frames[:3]))
        pane.action_send()
        reply = [
            b'{"AAPL": 189.5, "MSFT": 411.2, "pid": 41001}',
            b"[bold]plain text[/bold]",
            msgpack.packb({"seq": 7, "ok": True}),
            b"\x00\x01\xfe\xff",
        ]
        pane.show_send_result(SendResult(reply, 1.84, 1), send_id=max(pane._in_flight))
        await pane.load_request(MULTI_FRAME)
        await steady(pilot)

    assert snap_compare(
        PaneHost(lambda: ComposerPane(endpoint="tcp://127.0.0.1:60401")),
        terminal_size=size,
        run_before=multi_frame,
    )
