"""CURVE security: authorized keys get in, everyone else is refused and told why, and a server
whose authentication handler is gone admits nobody."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest
import zmq
from click.testing import CliRunner
from helpers import wait_for, wait_for_sync
from zmq.auth import load_certificate

from zmqtui import security
from zmqtui.cli import main
from zmqtui.config import ConfigError, Settings, load_settings
from zmqtui.security import (
    CurveProfile,
    HandshakeWatch,
    ZapHandler,
    use_profile,
    write_key_pair,
)
from zmqtui.security import profile as profile_module
from zmqtui.services import sockets
from zmqtui.services.requester import Requester
from zmqtui.services.sockets import EndpointError

WAIT_MS = 5000
"""Only matters on failure: how long a test waits for something that should happen."""


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    """Key pairs of a server, a known client and a stranger, and the server's authorized dir."""
    authorized = tmp_path / "authorized"
    authorized.mkdir()
    pairs = {name: write_key_pair(tmp_path / name, name) for name in ("server", "alice", "eve")}
    shutil.copy(pairs["alice"].public, authorized)
    return {
        "authorized": authorized,
        **{f"{name}_secret": pair.secret for name, pair in pairs.items()},
        **{f"{name}_public": pair.public for name, pair in pairs.items()},
    }


@pytest.fixture
def server_profile(keys) -> CurveProfile:
    settings = Settings(
        curve_secret=str(keys["server_secret"]), curve_authorized=str(keys["authorized"])
    )
    return CurveProfile.from_settings(settings)


def client_profile(keys, name: str, server: str = "server") -> CurveProfile:
    settings = Settings(
        curve_secret=str(keys[f"{name}_secret"]), curve_server=str(keys[f"{server}_public"])
    )
    return CurveProfile.from_settings(settings)


class Peers:
    """Sockets and handshake watches of one test, all closed when it ends."""

    def __init__(self, ctx: zmq.Context) -> None:
        self.ctx = ctx
        self.closing: list[zmq.Socket | HandshakeWatch] = []

    def socket(self, kind: int) -> zmq.Socket:
        sock = self.ctx.socket(kind)
        sockets.configure(sock)
        self.closing.append(sock)
        return sock

    def curve_rep(self, profile: CurveProfile) -> tuple[zmq.Socket, str]:
        rep = self.socket(zmq.REP)
        return rep, sockets.bind(rep, "tcp://127.0.0.1:0", curve=profile)

    def watched_req(
        self, endpoint: str, curve: CurveProfile | bool
    ) -> tuple[zmq.Socket, HandshakeWatch]:
        req = self.socket(zmq.REQ)
        watch = HandshakeWatch(req)
        self.closing.append(watch)
        sockets.connect(req, endpoint, curve=curve)
        return req, watch

    def close(self) -> None:
        for item in reversed(self.closing):
            if isinstance(item, HandshakeWatch):
                item.close()
            else:
                item.close(linger=0)


@pytest.fixture
def peers(ctx) -> Peers:
    made = Peers(ctx)
    yield made
    made.close()


def assert_answered(rep: zmq.Socket, req: zmq.Socket) -> None:
    req.send(b"ping")
    assert rep.poll(WAIT_MS), "the server never got the request"
    rep.send(rep.recv() + b" pong")
    assert req.poll(WAIT_MS), "the client never got the reply"
    assert req.recv() == b"ping pong"


def assert_refused(rep: zmq.Socket, req: zmq.Socket, watch: HandshakeWatch, reason: str) -> None:
    """The client learns why it was refused; by then its request cannot reach the server."""
    req.send(b"ping")
    try:
        wait_for_sync(lambda: reason in (watch.failure() or ""), timeout=WAIT_MS / 1000)
    except AssertionError:
        raise AssertionError(f"expected {reason!r}, the watch says {watch.failure()!r}") from None
    assert rep.poll(100) == 0
    assert req.poll(0) == 0


class TestCurveOverLoopback:
    def test_authorized_client_is_answered(self, peers, keys, server_profile):
        rep, endpoint = peers.curve_rep(server_profile)
        req, watch = peers.watched_req(endpoint, client_profile(keys, "alice"))
        assert_answered(rep, req)
        assert watch.failure() is None

    def test_unknown_client_key_is_refused(self, peers, keys, server_profile):
        rep, endpoint = peers.curve_rep(server_profile)
        req, watch = peers.watched_req(endpoint, client_profile(keys, "eve"))
        assert_refused(rep, req, watch, "refused this client's CURVE key")

    def test_client_without_curve_is_refused(self, peers, server_profile):
        rep, endpoint = peers.curve_rep(server_profile)
        req, watch = peers.watched_req(endpoint, curve=False)
        assert_refused(rep, req, watch, "the server requires CURVE and this client has no keys")

    def test_a_retry_dropped_without_detail_keeps_the_reason_given(self, peers, server_profile):
        rep, endpoint = peers.curve_rep(server_profile)
        req, watch = peers.watched_req(endpoint, curve=False)
        reason = "the server requires CURVE and this client has no keys"
        assert_refused(rep, req, watch, reason)
        # libzmq's next try at times ends in a broken pipe before the server says why (as
        # observed one `zmqtui request` in five); that must not replace the reason
        watch._observe(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, errno.EPIPE, endpoint)
        assert reason in (watch.failure() or "")

    def test_client_trusting_another_server_key_is_told(self, peers, keys, server_profile):
        rep, endpoint = peers.curve_rep(server_profile)
        req, watch = peers.watched_req(endpoint, client_profile(keys, "alice", server="eve"))
        assert_refused(rep, req, watch, "the server does not hold the key this client trusts")

    def test_key_added_to_the_authorized_dir_is_admitted_without_restart(
        self, peers, keys, server_profile
    ):
        rep, endpoint = peers.curve_rep(server_profile)
        req, watch = peers.watched_req(endpoint, client_profile(keys, "eve"))
        assert_refused(rep, req, watch, "refused")
        shutil.copy(keys["eve_public"], keys["authorized"])
        req, _ = peers.watched_req(endpoint, client_profile(keys, "eve"))
        assert_answered(rep, req)

    def test_server_fails_closed_when_its_zap_handler_stops(self, ctx, peers, keys, server_profile):
        rep, endpoint = peers.curve_rep(server_profile)
        assert rep.getsockopt(zmq.ZAP_ENFORCE_DOMAIN) == 1
        alice = client_profile(keys, "alice")
        first, _ = peers.watched_req(endpoint, alice)
        assert_answered(rep, first)
        security.zap_handler(ctx).stop()
        server_events = rep.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        peers.closing.append(server_events)
        second, watch = peers.watched_req(endpoint, alice)
        second.send(b"ping")
        assert server_events.poll(WAIT_MS), "the server did not refuse the handshake"
        assert rep.poll(100) == 0
        assert "handshake never completed" in watch.failure()
        rep.disable_monitor()

    async def test_asyncio_context_is_served(self, actx, keys, server_profile):
        rep, req = actx.socket(zmq.REP), actx.socket(zmq.REQ)
        try:
            sockets.configure(rep)
            sockets.configure(req)
            endpoint = sockets.bind(rep, "tcp://127.0.0.1:0", curve=server_profile)
            sockets.connect(req, endpoint, curve=client_profile(keys, "alice"))
            await req.send(b"ping")
            assert await rep.poll(WAIT_MS)
            await rep.send(await rep.recv() + b" pong")
            assert await req.poll(WAIT_MS)
            assert await req.recv() == b"ping pong"
        finally:
            rep.close(linger=0)
            req.close(linger=0)

    async def test_asyncio_client_learns_it_was_refused(self, actx, keys, server_profile):
        rep, req = actx.socket(zmq.REP), actx.socket(zmq.REQ)
        watch = HandshakeWatch(req)
        try:
            sockets.configure(rep)
            sockets.configure(req)
            endpoint = sockets.bind(rep, "tcp://127.0.0.1:0", curve=server_profile)
            sockets.connect(req, endpoint, curve=client_profile(keys, "eve"))
            await req.send(b"ping")
            await wait_for(lambda: "refused" in (watch.failure() or ""), WAIT_MS / 1000)
            assert await rep.poll(100) == 0
        finally:
            watch.close()
            rep.close(linger=0)
            req.close(linger=0)

    async def test_requester_says_its_key_was_refused(self, actx, keys, server_profile):
        rep = actx.socket(zmq.REP)
        sockets.configure(rep)
        endpoint = sockets.bind(rep, "tcp://127.0.0.1:0", curve=server_profile)
        use_profile(client_profile(keys, "eve"))
        try:
            async with Requester(actx, endpoint, timeout_ms=300, tries=2) as requester:
                result = await requester.request("notes.txt")
        finally:
            use_profile(None)
            rep.close(linger=0)
        assert result.reply is None
        assert result.error.startswith("unavailable after 2 tries: ")
        assert "refused" in result.error


class TestZapAnswers:
    """The handler's decisions, without sockets: only an authorized CURVE key gets a 200."""

    DOMAIN = b"zmqtui-test"
    KEY = b"\x01" * 32

    def answer(self, ctx, *frames: bytes) -> tuple[bytes, bytes]:
        handler = ZapHandler(ctx)
        handler.authorize(self.DOMAIN, lambda: frozenset({zmq.utils.z85.encode(self.KEY)}))
        reply = handler.answer(list(frames))
        assert reply[:2] == [b"1.0", frames[1] if len(frames) > 1 else b""]
        return reply[2], reply[4]

    def request(self, domain: bytes, mechanism: bytes, *credentials: bytes) -> list[bytes]:
        return [b"1.0", b"7", domain, b"127.0.0.1", b"", mechanism, *credentials]

    def test_authorized_key_gets_in_with_its_key_as_user_id(self, ctx):
        status, user = self.answer(ctx, *self.request(self.DOMAIN, b"CURVE", self.KEY))
        assert (status, user) == (b"200", zmq.utils.z85.encode(self.KEY))

    @pytest.mark.parametrize(
        ("frames", "status"),
        [
            ([b"1.0", b"7", DOMAIN, b"h", b"", b"CURVE", b"\x02" * 32], b"400"),
            ([b"1.0", b"7", b"other-domain", b"h", b"", b"CURVE", KEY], b"400"),
            ([b"1.0", b"7", DOMAIN, b"h", b"", b"NULL"], b"400"),
            ([b"1.0", b"7", DOMAIN, b"h", b"", b"PLAIN", b"user", b"password"], b"400"),
            ([b"1.0", b"7", DOMAIN, b"h", b"", b"CURVE", KEY, KEY], b"400"),
            ([b"1.0", b"7", DOMAIN, b"h", b"", b"CURVE", b"short"], b"400"),
            ([b"2.0", b"7", DOMAIN, b"h", b"", b"CURVE", KEY], b"500"),
            ([b"1.0", b"7"], b"500"),
        ],
    )
    def test_everything_else_is_refused(self, ctx, frames, status):
        assert self.answer(ctx, *frames) == (status, b"")

    def test_unreadable_authorized_keys_refuse(self, ctx):
        def unreadable() -> frozenset[bytes]:
            raise PermissionError("denied")

        handler = ZapHandler(ctx)
        handler.authorize(self.DOMAIN, unreadable)
        assert handler.answer(self.request(self.DOMAIN, b"CURVE", self.KEY))[2] == b"500"


class TestBindRules:
    def test_public_bind_without_curve_needs_insecure(self, peers):
        with pytest.raises(EndpointError, match=r"--insecure") as refused:
            sockets.bind(peers.socket(zmq.REP), "tcp://192.0.2.1:0", curve=False)
        assert "ZMQTUI_CURVE_SECRET" in str(refused.value)

    def test_public_bind_with_curve_is_allowed(self, peers, server_profile):
        # 192.0.2.1 (TEST-NET-1) is not ours: the bind fails, but only after the check passed.
        sock = peers.socket(zmq.REP)
        with pytest.raises(EndpointError, match=r"^cannot bind tcp://192\.0\.2\.1:0"):
            sockets.bind(sock, "tcp://192.0.2.1:0", curve=server_profile)
        assert sock.getsockopt(zmq.CURVE_SERVER) == 1

    def test_ipc_endpoints_stay_plain(self, peers, ipc_endpoint, server_profile):
        rep, req = peers.socket(zmq.REP), peers.socket(zmq.REQ)
        endpoint = sockets.bind(rep, ipc_endpoint(), curve=server_profile)
        sockets.connect(req, endpoint, curve=server_profile)
        assert rep.getsockopt(zmq.MECHANISM) == req.getsockopt(zmq.MECHANISM) == zmq.NULL
        assert_answered(rep, req)

    def test_active_profile_comes_from_the_environment(self, peers, keys, monkeypatch):
        monkeypatch.setattr(profile_module, "_active", profile_module._Unset())
        monkeypatch.setenv("ZMQTUI_CONFIG", os.devnull)
        monkeypatch.setenv("ZMQTUI_CURVE_SECRET", str(keys["server_secret"]))
        monkeypatch.setenv("ZMQTUI_CURVE_AUTHORIZED", str(keys["authorized"]))
        rep = peers.socket(zmq.REP)
        sockets.bind(rep, "tcp://127.0.0.1:0")
        assert rep.getsockopt(zmq.MECHANISM) == zmq.CURVE
        assert security.active_profile().authorized_dir == keys["authorized"]


class TestProfileSettings:
    def test_environment_names_the_key_files(self, keys):
        environ = {
            "ZMQTUI_CONFIG": os.devnull,
            "ZMQTUI_CURVE_SECRET": str(keys["alice_secret"]),
            "ZMQTUI_CURVE_SERVER": str(keys["server_public"]),
        }
        profile = CurveProfile.from_settings(load_settings(environ=environ))
        assert profile.public_key == load_certificate(keys["alice_public"])[0]
        assert profile.server_key == load_certificate(keys["server_public"])[0]
        assert "secret_key" not in repr(profile)

    def test_empty_secret_turns_curve_off(self):
        environ = {"ZMQTUI_CONFIG": os.devnull, "ZMQTUI_CURVE_SECRET": ""}
        assert CurveProfile.from_settings(load_settings(environ=environ)) is None

    def test_a_lone_key_pair_trusts_and_admits_itself(self, keys):
        profile = CurveProfile.from_settings(Settings(curve_secret=str(keys["alice_secret"])))
        assert profile.server_key == profile.public_key
        assert profile.authorized_keys() == {profile.public_key}

    def test_secret_key_readable_by_others_is_refused(self, keys):
        keys["alice_secret"].chmod(0o644)
        with pytest.raises(ConfigError, match="chmod 600"):
            CurveProfile.from_settings(Settings(curve_secret=str(keys["alice_secret"])))

    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            ({"curve_secret": "missing.key_secret"}, "zmqtui keygen"),
            ({"curve_secret": "{alice_public}"}, "no secret key"),
            ({"curve_server": "{server_public}"}, "need curve_secret"),
            ({"curve_secret": "{alice_secret}", "curve_authorized": "nowhere"}, "not a directory"),
        ],
    )
    def test_unusable_settings_say_what_is_wrong(self, keys, settings, message, monkeypatch):
        keys["alice_public"].chmod(0o600)  # so only the missing secret key is wrong
        monkeypatch.chdir(keys["authorized"])
        values = {key: value.format(**keys) for key, value in settings.items()}
        with pytest.raises(ConfigError, match=message):
            CurveProfile.from_settings(Settings(**values))


class TestKeygen:
    def run(self, *args: str):
        return CliRunner().invoke(main, ["keygen", *args])

    def test_writes_a_private_secret_and_a_public_key(self, tmp_path):
        old_umask = os.umask(0)
        try:
            result = self.run("--dir", str(tmp_path / "keys"), "--name", "alice")
        finally:
            os.umask(old_umask)
        assert result.exit_code == 0, result.output
        secret, public = tmp_path / "keys/alice.key_secret", tmp_path / "keys/alice.key"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert stat.S_IMODE(public.stat().st_mode) == 0o644
        assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
        public_key, secret_key = load_certificate(secret)
        assert load_certificate(public) == (public_key, None)
        assert zmq.curve_public(secret_key) == public_key
        assert public_key.decode() in result.output

    def test_refuses_to_overwrite_unless_forced(self, tmp_path):
        assert self.run("--dir", str(tmp_path), "--name", "k").exit_code == 0
        before = (tmp_path / "k.key_secret").read_bytes()
        again = self.run("--dir", str(tmp_path), "--name", "k")
        assert again.exit_code == 1
        assert "refusing to overwrite" in again.output
        assert (tmp_path / "k.key_secret").read_bytes() == before
        assert self.run("--dir", str(tmp_path), "--name", "k", "--force").exit_code == 0
        assert (tmp_path / "k.key_secret").read_bytes() != before
        assert stat.S_IMODE((tmp_path / "k.key_secret").stat().st_mode) == 0o600
        assert sorted(p.name for p in tmp_path.iterdir()) == ["k.key", "k.key_secret"]

    @pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", ""])
    def test_refuses_names_that_are_not_plain_file_names(self, tmp_path, name):
        result = self.run("--dir", str(tmp_path), "--name", name)
        assert result.exit_code == 2
        assert list(tmp_path.iterdir()) == []
