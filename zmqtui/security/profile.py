"""The process's CURVE profile (its key pair, the server key it trusts, the client keys it
admits) and how it makes a socket a CURVE server or client."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import zmq

from zmqtui.config import ConfigError, FeedConfig, Settings, load_settings
from zmqtui.security.keys import read_authorized_keys, read_public_key_file, read_secret_key_file
from zmqtui.security.zap import zap_handler

LOCAL_TRANSPORTS = ("ipc", "inproc")
"""Transports that stay on this machine: CURVE is not applied to them."""


@dataclass(frozen=True, slots=True)
class CurveProfile:
    """This process's key pair, the server key it trusts and the client keys it admits."""

    public_key: bytes
    """Our Z85 public key. A server always admits it: its holder is this process's principal."""
    secret_key: bytes = field(repr=False)
    server_key: bytes
    """Z85 public key of the servers we connect to (our own, when every process shares a pair)."""
    authorized_dir: Path | None = None
    """Directory of client public keys (`*.key`) a server admits besides its own; read at
    every handshake, so adding or removing a file takes effect for the next connection."""

    @classmethod
    def from_settings(cls, settings: Settings) -> CurveProfile | None:
        """The profile `settings` describe, None when CURVE is off, `ConfigError` if unusable."""
        secret_path = settings.curve_secret
        if secret_path is None:
            if settings.curve_server or settings.curve_authorized:
                raise ConfigError(
                    "curve_server and curve_authorized need curve_secret "
                    "(ZMQTUI_CURVE_SECRET): this process's own .key_secret file"
                )
            return None
        if not zmq.has("curve"):
            raise ConfigError("this libzmq was built without CURVE support")
        public, secret = read_secret_key_file(Path(secret_path))
        server = (
            read_public_key_file(Path(settings.curve_server)) if settings.curve_server else public
        )
        authorized = Path(settings.curve_authorized) if settings.curve_authorized else None
        if authorized is not None:
            if not authorized.is_dir():
                raise ConfigError(f"curve_authorized {authorized} is not a directory")
            for path in authorized.glob("*.key"):
                read_public_key_file(path)
        return cls(public, secret, server, authorized)

    def authorized_keys(self) -> frozenset[bytes]:
        """The client keys a server admits right now: its own, plus those in `authorized_dir`."""
        keys = {self.public_key}
        if self.authorized_dir is not None:
            keys |= read_authorized_keys(self.authorized_dir)
        return frozenset(keys)

    @property
    def zap_domain(self) -> bytes:
        """The ZAP domain of sockets served with this profile: one per set of admitted keys."""
        basis = self.public_key + str(self.authorized_dir).encode("utf-8", "surrogateescape")
        return b"zmqtui-" + hashlib.sha256(basis).hexdigest()[:16].encode("ascii")


class _Unset:
    pass


_active: CurveProfile | _Unset | None = _Unset()
_active_lock = threading.Lock()


def active_profile() -> CurveProfile | None:
    """The process-wide profile: the one `use_profile` set, else read once from the settings
    (environment and config file); None when CURVE is off."""
    global _active
    with _active_lock:
        if isinstance(_active, _Unset):
            _active = CurveProfile.from_settings(load_settings())
        return _active


def use_profile(profile: CurveProfile | None) -> None:
    """Set the process-wide profile (None: CURVE off), e.g. from settings read with `--config`."""
    global _active
    with _active_lock:
        _active = profile


def resolve_profile(curve: CurveProfile | bool) -> CurveProfile | None:
    """`curve` as `sockets.bind`/`connect` take it: True for the active profile, False for none."""
    if isinstance(curve, CurveProfile):
        return curve
    return active_profile() if curve else None


def curve_for_feed(feed: FeedConfig) -> CurveProfile | bool:
    """The CURVE setting a feed connects with: the process's profile (True), trusting the
    feed's own `curve_server` key when it names one; `ConfigError` when it names one and this
    process has no keys of its own."""
    if feed.curve_server is None:
        return True
    profile = active_profile()
    if profile is None:
        raise ConfigError(
            f"feed {feed.name!r}: curve_server needs curve_secret (ZMQTUI_CURVE_SECRET), this "
            "process's own .key_secret file"
        )
    return replace(profile, server_key=read_public_key_file(Path(feed.curve_server)))


def covers(endpoint: str) -> bool:
    """True for endpoints CURVE applies to: all but `ipc://` and `inproc://`."""
    return endpoint.partition("://")[0] not in LOCAL_TRANSPORTS


def make_curve_server(sock: zmq.Socket, profile: CurveProfile) -> None:
    """Make `sock` a CURVE server that admits only `profile`'s keys; call before `bind`.

    `ZAP_ENFORCE_DOMAIN` makes libzmq refuse every client while no ZAP handler runs (without it,
    libzmq admits any CURVE client that knows the server key): the server fails closed.
    """
    zap_handler(sock.context).authorize(profile.zap_domain, profile.authorized_keys)
    sock.setsockopt(zmq.CURVE_SECRETKEY, profile.secret_key)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, profile.public_key)
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.ZAP_DOMAIN, profile.zap_domain)
    sock.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)


def make_curve_client(sock: zmq.Socket, profile: CurveProfile) -> None:
    """Make `sock` a CURVE client that trusts `profile.server_key`; call before `connect`."""
    sock.setsockopt(zmq.CURVE_SERVERKEY, profile.server_key)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, profile.public_key)
    sock.setsockopt(zmq.CURVE_SECRETKEY, profile.secret_key)
