"""`zmqtui request` and `zmqtui ctl` say why a CURVE server turned them away, with exit 4."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from click.testing import CliRunner

from zmqtui.cli import main
from zmqtui.config import Settings
from zmqtui.security import CurveProfile, use_profile, write_key_pair
from zmqtui.services import sockets

EXIT_HANDSHAKE_FAILED = 4


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    """Key files of a server, the client it admits (alice) and a stranger (eve)."""
    authorized = tmp_path / "authorized"
    pairs = {name: write_key_pair(tmp_path / name, name) for name in ("server", "alice", "eve")}
    authorized.mkdir()
    (authorized / "alice.key").write_bytes(pairs["alice"].public.read_bytes())
    return {
        "authorized": str(authorized),
        **{f"{name}_secret": str(pair.secret) for name, pair in pairs.items()},
        **{f"{name}_public": str(pair.public) for name, pair in pairs.items()},
    }


@pytest.fixture
def server(ctx, keys) -> Iterator[str]:
    """A CURVE REP on loopback that admits alice and answers every request with `reply`."""
    profile = CurveProfile.from_settings(
        Settings(curve_secret=keys["server_secret"], curve_authorized=keys["authorized"])
    )
    rep = ctx.socket(zmq.REP)
    sockets.configure(rep)
    endpoint = sockets.bind(rep, "tcp://127.0.0.1:0", curve=profile)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            if rep.poll(50):
                rep.recv()
                rep.send(b'{"ok": true, "message": "done", "content": "hello", "pid": 1}')

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        done.set()
        thread.join(5)
        rep.close(linger=0)


@pytest.fixture(autouse=True)
def no_profile_left() -> Iterator[None]:
    """The commands make their keys the process's own: none are left for the next test."""
    yield
    use_profile(None)


def as_client(
    keys: dict[str, str], name: str | None, server: str = "server"
) -> dict[str, str | None]:
    """The environment of a client holding `name`'s keys (None: no keys) trusting `server`'s."""
    if name is None:
        return {"ZMQTUI_CURVE_SECRET": None, "ZMQTUI_CURVE_SERVER": None}
    return {
        "ZMQTUI_CURVE_SECRET": keys[f"{name}_secret"],
        "ZMQTUI_CURVE_SERVER": keys[f"{server}_public"],
    }


def run(env: dict[str, str | None], *args: str):
    return CliRunner().invoke(main, [*args, "--timeout", "1000", "--tries", "1"], env=env)


REFUSED = "the server refused this client's CURVE key (ZAP status 400)"
NO_KEYS = "the server requires CURVE and this client has no keys"
WRONG_SERVER_KEY = "the server does not hold the key this client trusts"


@pytest.mark.parametrize(
    ("client", "trusted", "reason"),
    [("eve", "server", REFUSED), (None, "server", NO_KEYS), ("alice", "eve", WRONG_SERVER_KEY)],
)
def test_request_says_why_the_server_turned_it_away(keys, server, client, trusted, reason):
    result = run(as_client(keys, client, trusted), "request", "a.txt", "--connect", server)
    assert result.exit_code == EXIT_HANDSHAKE_FAILED, result.output
    assert reason in result.stderr
    assert "is a filer running there?" not in result.stderr


def test_a_load_says_why_the_server_turned_it_away(keys, server):
    args = ("request", "a.txt", "--connect", server, "--count", "3")
    result = run(as_client(keys, "eve"), *args)
    assert result.exit_code == EXIT_HANDSHAKE_FAILED, result.output
    assert REFUSED in result.stdout


@pytest.mark.parametrize(
    ("client", "trusted", "reason"),
    [("eve", "server", REFUSED), (None, "server", NO_KEYS), ("alice", "eve", WRONG_SERVER_KEY)],
)
def test_ctl_says_why_the_server_turned_it_away(keys, server, client, trusted, reason):
    result = run(as_client(keys, client, trusted), "ctl", "stop", "--control", server)
    assert result.exit_code == EXIT_HANDSHAKE_FAILED, result.output
    assert reason in result.stderr


def test_an_admitted_client_is_answered(keys, server):
    assert run(as_client(keys, "alice"), "ctl", "stop", "--control", server).exit_code == 0
    result = run(as_client(keys, "alice"), "request", "a.txt", "--connect", server)
    assert result.exit_code == 0, result.output
