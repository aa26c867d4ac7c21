"""The sandbox, attacked through the sockets of a real `zmqtui cluster`.

A fixture tree of traversal tricks (`..` chains, absolute paths, links out and in, loops, a
sibling directory whose name extends the root's), special files (FIFOs, devices, a socket),
sparse, growing, unreadable and binary files, and links swapped back and forth while thousands
of requests race them. Every file outside the root holds a unique marker that must never
appear in a reply. When the tests run as root, the cluster runs without root's capabilities,
so that file modes mean what they say. (tests/services/test_filer.py unit-tests the rules.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import stat
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq.asyncio
from faultkit import START, ClusterUnderTest, request_raw, running_children, unprivileged_prefix

from zmqtui.protocol import ErrorReply, FileReply, decode_reply
from zmqtui.services.requester import Requester, RequestResult

pytestmark = [pytest.mark.fault, pytest.mark.integration]

MARKER = f"OUTSIDE-{uuid.uuid4().hex}"
"""In every file outside the root; no reply may ever carry it."""
MAX_BYTES = 64 * 1024
INSIDE = "inside ✓\n"
INNER = "inner\n"
RACE_FILE = "race file\n"
RACE_DIR_FILE = "race dir file\n"
PRIVILEGED = unprivileged_prefix() is None
"""Root that cannot drop its capabilities: modes cannot refuse it a read."""


@dataclass
class Sandbox:
    base: Path
    root: Path
    cluster: ClusterUnderTest


def build_tree(base: Path) -> Path:
    """The served root and what lies around it; returns the root."""
    root, outside, sibling = base / "root", base / "outside", base / "root2"
    for directory in (root / "sub", root / "real_dir", outside, sibling, base / "swap"):
        directory.mkdir(parents=True)
    for secret in (outside / "secret.txt", outside / "f.txt", sibling / "secret.txt"):
        secret.write_text(f"{MARKER}\n")
    (root / "ok.txt").write_text(INSIDE)
    (root / "sub" / "inner.txt").write_text(INNER)
    (root / "real_dir" / "f.txt").write_text(RACE_DIR_FILE)
    links = {
        "sub/back": "../ok.txt",
        "sub/deeper_out": "../../outside/secret.txt",
        "link_in": "ok.txt",
        "link_in_abs": f"{root}/ok.txt",
        "chain_in": "chain_in2",
        "chain_in2": "sub/inner.txt",
        "dir_in": "sub",
        "link_out": "../outside/secret.txt",
        "link_out_abs": f"{outside}/secret.txt",
        "link_sibling": f"{sibling}/secret.txt",
        "link_sibling_rel": "../root2/secret.txt",
        "link_dotdot_abs": f"{root}/../outside/secret.txt",
        "dir_out": "../outside",
        "up": "..",
        "chain_out": "chain_out2",
        "chain_out2": "../outside/secret.txt",
        "link_dev": "/dev/zero",
        "loop_a": "loop_b",
        "loop_b": "loop_a",
        "self": "self",
        "loop_dir": "loop_dir/x",
        "dangling": "nowhere.txt",
        "racedir": "real_dir",
    }
    for name, target in links.items():
        (root / name).symlink_to(target)
    os.mkfifo(root / "fifo")
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(root / "socket"))
    with contextlib.suppress(PermissionError):  # without CAP_MKNOD those cases are skipped
        os.mknod(root / "chardev", 0o666 | stat.S_IFCHR, os.makedev(1, 5))  # like /dev/zero
        os.mknod(root / "blockdev", 0o600 | stat.S_IFBLK, os.makedev(7, 0))  # like loop0
    (root / "big.txt").write_text("b" * (MAX_BYTES + 1))
    (root / "exact.txt").write_text("e" * MAX_BYTES)
    with open(root / "sparse", "wb") as sparse:
        sparse.truncate(1 << 40)
    with open(root / "sparse_small", "wb") as sparse:
        sparse.truncate(4096)
    (root / "binary.bin").write_bytes(bytes(range(128, 256)))
    (root / "race.txt").write_text(RACE_FILE)
    (root / "unreadable.txt").write_text("mode 000\n")
    (root / "unreadable.txt").chmod(0)
    (root / "locked").mkdir()
    (root / "locked" / "x.txt").write_text("behind a locked door\n")
    (root / "locked").chmod(0)
    return root


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    base = tmp_path_factory.mktemp("sandbox")
    root = build_tree(base)
    with running_children() as children:
        cluster = ClusterUnderTest(
            children, root, "--max-bytes", str(MAX_BYTES), workers=2, unprivileged=not PRIVILEGED
        )
        cluster.wait_bound()
        workers = cluster.ready()
        yield Sandbox(base, root, cluster)
        after = cluster.listing()["workers"]  # no request may have cost a worker its life
        assert [(w["pid"], w["crashes"]) for w in after] == [(w["pid"], 0) for w in workers]


def ask(cluster: ClusterUnderTest, path: str) -> tuple[bytes, FileReply | ErrorReply]:
    raw = request_raw(cluster.frontend, json.dumps({"path": path, "id": "q"}).encode())
    assert raw is not None, f"no reply for {path!r}"
    return raw, decode_reply([raw])


def traversal_cases() -> list[tuple[str, str]]:
    """(path, what it must get: a code, or "=TEXT" for that content); {R} and {B} expand."""
    return [
        ("ok.txt", "=" + INSIDE),
        ("./sub//./inner.txt", "=" + INNER),
        ("sub/../ok.txt", "=" + INSIDE),
        ("{R}/ok.txt", "=" + INSIDE),
        ("{R}//sub/inner.txt", "=" + INNER),
        ("link_in", "=" + INSIDE),
        ("link_in_abs", "=" + INSIDE),
        ("sub/back", "=" + INSIDE),
        ("chain_in", "=" + INNER),
        ("dir_in/inner.txt", "=" + INNER),
        ("exact.txt", "=" + "e" * MAX_BYTES),
        ("sparse_small", "=" + "\0" * 4096),
        ("../outside/secret.txt", "OUTSIDE_ROOT"),
        ("sub/../../outside/secret.txt", "OUTSIDE_ROOT"),
        ("../" * 30 + "etc/passwd", "OUTSIDE_ROOT"),
        ("sub/" + "../" * 2 + "root2/secret.txt", "OUTSIDE_ROOT"),
        ("../root2/secret.txt", "OUTSIDE_ROOT"),
        ("../root/ok.txt", "OUTSIDE_ROOT"),
        ("/etc/passwd", "OUTSIDE_ROOT"),
        ("//etc/passwd", "OUTSIDE_ROOT"),
        ("{B}/outside/secret.txt", "OUTSIDE_ROOT"),
        ("{R}2/secret.txt", "OUTSIDE_ROOT"),
        ("{R}/../outside/secret.txt", "OUTSIDE_ROOT"),
        ("{R}/sub/../../root2/secret.txt", "OUTSIDE_ROOT"),
        ("link_out", "OUTSIDE_ROOT"),
        ("link_out_abs", "OUTSIDE_ROOT"),
        ("link_sibling", "OUTSIDE_ROOT"),
        ("link_sibling_rel", "OUTSIDE_ROOT"),
        ("link_dotdot_abs", "OUTSIDE_ROOT"),
        ("dir_out/secret.txt", "OUTSIDE_ROOT"),
        ("up/outside/secret.txt", "OUTSIDE_ROOT"),
        ("up/root/ok.txt", "OUTSIDE_ROOT"),
        ("sub/deeper_out", "OUTSIDE_ROOT"),
        ("chain_out", "OUTSIDE_ROOT"),
        ("link_dev", "OUTSIDE_ROOT"),
        ("loop_a", "NOT_FOUND"),
        ("self", "NOT_FOUND"),
        ("loop_dir/x", "NOT_FOUND"),
        ("dangling", "NOT_FOUND"),
        ("%2e%2e/outside/secret.txt", "NOT_FOUND"),
        ("..\\outside\\secret.txt", "NOT_FOUND"),
        ("\uff0e\uff0e/outside/secret.txt", "NOT_FOUND"),
        ("ok.txt/..", "NOT_FOUND"),
        ("sub", "NOT_A_FILE"),
        (".", "NOT_A_FILE"),
        ("{R}", "NOT_A_FILE"),
        ("fifo", "NOT_A_FILE"),
        ("socket", "NOT_A_FILE"),
        ("chardev", "NOT_A_FILE"),
        ("blockdev", "NOT_A_FILE"),
        ("big.txt", "TOO_LARGE"),
        ("sparse", "TOO_LARGE"),
        ("binary.bin", "NOT_TEXT"),
        ("unreadable.txt", "=mode 000\n" if PRIVILEGED else "PERMISSION_DENIED"),
        ("locked/x.txt", "=behind a locked door\n" if PRIVILEGED else "PERMISSION_DENIED"),
        ("ok.txt\0/../../outside/secret.txt", "BAD_REQUEST"),
        ("a/" * 2100, "BAD_REQUEST"),
    ]


@pytest.mark.parametrize(
    ("path", "expected"), traversal_cases(), ids=lambda value: ascii(value)[:40]
)
def test_every_trick_gets_its_answer_and_nothing_from_outside(
    sandbox: Sandbox, path: str, expected: str
):
    if path in ("chardev", "blockdev") and not (sandbox.root / path).exists():
        pytest.skip("making device nodes needs CAP_MKNOD")
    path = path.replace("{R}", str(sandbox.root)).replace("{B}", str(sandbox.base))
    raw, reply = ask(sandbox.cluster, path)
    assert MARKER.encode() not in raw
    assert str(sandbox.base / "outside").encode() not in raw
    assert reply.id == "q"
    if expected.startswith("="):
        assert isinstance(reply, FileReply), reply
        assert reply.content == expected[1:]
    else:
        assert isinstance(reply, ErrorReply), reply
        assert reply.code == expected, reply


def swap_back_and_forth(sandbox: Sandbox, stop: threading.Event) -> Counter[str]:
    """Flip `race.txt` (file, link out, FIFO, link in) and `racedir` (link in, link out)."""
    swap, root = sandbox.base / "swap", sandbox.root
    swaps: Counter[str] = Counter()
    while not stop.is_set():
        for state in ("file", "link_out", "fifo", "link_in"):
            if stop.is_set():
                break
            made = swap / "race.txt"
            if state == "file":
                made.write_text(RACE_FILE)
            elif state == "fifo":
                os.mkfifo(made)
            else:
                made.symlink_to("../outside/secret.txt" if state == "link_out" else "ok.txt")
            os.replace(made, root / "race.txt")
            link = swap / "racedir"
            link.symlink_to("../outside" if state in ("link_out", "fifo") else "real_dir")
            os.replace(link, root / "racedir")
            swaps[state] += 1
            time.sleep(0.0005)
    return swaps


RACE_ANSWERS = {
    "race.txt": {"=" + RACE_FILE, "=" + INSIDE, "OUTSIDE_ROOT", "NOT_A_FILE"},
    "racedir/f.txt": {"=" + RACE_DIR_FILE, "OUTSIDE_ROOT"},
}


def outcome(result: RequestResult) -> str:
    reply = result.reply
    if isinstance(reply, FileReply):
        return "=" + reply.content
    if isinstance(reply, ErrorReply):
        return reply.code
    return f"no answer: {result.error}"


async def test_links_swapped_under_thousands_of_requests_never_leak(
    sandbox: Sandbox, actx: zmq.asyncio.Context
):
    results: list[RequestResult] = []
    stop = threading.Event()
    swapping = asyncio.create_task(asyncio.to_thread(swap_back_and_forth, sandbox, stop))

    async def client(path: str) -> None:
        async with Requester(actx, sandbox.cluster.frontend, timeout_ms=5000, tries=1) as req:
            for _ in range(500):
                results.append(await req.request(path))

    try:
        async with asyncio.TaskGroup() as group:
            for path in RACE_ANSWERS:
                for _ in range(2):
                    group.create_task(client(path))
    finally:
        stop.set()
        swaps = await asyncio.wait_for(swapping, timeout=START)

    assert len(results) == 2000 and min(swaps.values()) > 10
    assert not [r for r in results if r.raw is None or MARKER.encode() in r.raw]
    for path, allowed in RACE_ANSWERS.items():
        seen = Counter(outcome(r) for r in results if r.path == path)
        assert set(seen) <= allowed, seen
        assert "OUTSIDE_ROOT" in seen and len(seen) >= 2, seen  # the race was really run


def test_a_growing_file_is_served_whole_or_refused(sandbox: Sandbox):
    growing = sandbox.root / "grow.txt"
    growing.write_text("g" * 1024)
    stop = threading.Event()

    def grow() -> None:
        with open(growing, "a") as out:
            while not stop.is_set() and out.tell() <= 2 * MAX_BYTES:
                out.write("g" * 4096)
                out.flush()
                time.sleep(0.002)

    answers: Counter[str] = Counter()
    grower = threading.Thread(target=grow)
    try:
        _, first = ask(sandbox.cluster, "grow.txt")
        assert isinstance(first, FileReply) and first.content == "g" * 1024
        grower.start()
        for _ in range(2000):
            _, reply = ask(sandbox.cluster, "grow.txt")
            if isinstance(reply, FileReply):
                assert set(reply.content) <= {"g"} and len(reply.content) <= MAX_BYTES
                answers["content"] += 1
            else:
                assert reply.code == "TOO_LARGE", reply
                answers["too large"] += 1
                break
    finally:
        stop.set()
        with contextlib.suppress(RuntimeError):
            grower.join(timeout=START)
    assert answers["too large"] == 1, answers
