"""Optional CURVE security: whom our sockets let in, whom they trust, and why a handshake failed.

With a key pair configured (`curve_secret`, `$ZMQTUI_CURVE_SECRET`) every TCP endpoint this
process binds is a CURVE server that admits only authorized client keys, and every TCP endpoint
it connects to is reached as a CURVE client that trusts one server key. `ipc://` and `inproc://`
endpoints never leave the machine and are guarded by file permissions, so they stay as they are.
`zmqtui.services.sockets` calls in here from `bind` and `connect`: services need no change.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import itertools
import logging
import os
import re
import secrets
import stat
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from zmq.auth import load_certificate
from zmq.utils import z85

from zmqtui.config import ConfigError, Settings, load_settings

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
"""Where libzmq sends a Context's authentication requests (RFC 27)."""
ZAP_VERSION = b"1.0"
LOCAL_TRANSPORTS = ("ipc", "inproc")
"""Transports that stay on this machine: CURVE is not applied to them."""
LOGGED_REFUSALS = 20
"""Refused clients logged one by one; later ones are only counted (`ZapHandler.refused`)."""


# --- key files -------------------------------------------------------------------------------


def read_secret_key_file(path: Path) -> tuple[bytes, bytes]:
    """Our (public, secret) Z85 key pair from a `.key_secret` file only its owner can read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(
            f"cannot read CURVE secret key file {path}: {exc.strerror} "
            "(make one with `zmqtui keygen`)"
        ) from None
    if mode & 0o077:
        raise ConfigError(
            f"CURVE secret key file {path} is open to other users "
            f"(mode {stat.S_IMODE(mode):04o}): run `chmod 600 {path}`"
        )
    public, secret = _read_key_file(path)
    if secret is None:
        raise ConfigError(f"{path} holds no secret key: point curve_secret at the .key_secret file")
    if zmq.curve_public(secret) != public:
        raise ConfigError(f"{path}: its public key does not belong to its secret key")
    return public, secret


def read_public_key_file(path: Path) -> bytes:
    """The Z85 public key of a `.key` file (a `.key_secret` file works too)."""
    return _read_key_file(path)[0]


def _read_key_file(path: Path) -> tuple[bytes, bytes | None]:
    try:
        public, secret = load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read CURVE key file {path}: {exc}") from None
    for key in (public, secret):
        if key is not None and not _is_z85_key(key):
            raise ConfigError(f"{path} does not hold a valid CURVE key (40 Z85 characters)")
    return public, secret


def _is_z85_key(key: bytes) -> bool:
    if len(key) != 40:
        return False
    try:
        z85.decode(key)
    except (ValueError, KeyError, struct.error):
        return False
    return True


def read_authorized_keys(directory: Path) -> frozenset[bytes]:
    """The Z85 public keys of the `*.key` files in `directory`; unreadable files are skipped."""
    keys = set()
    for path in directory.glob("*.key"):
        try:
            keys.add(read_public_key_file(path))
        except ConfigError:
            continue
    return frozenset(keys)


_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]*")


@dataclass(frozen=True, slots=True)
class KeyPairFiles:
    """Where `write_key_pair` put a new key pair."""

    public: Path
    secret: Path
    public_key: str


def write_key_pair(directory: Path, name: str, *, force: bool = False) -> KeyPairFiles:
    """A new key pair as `NAME.key_secret` (mode 0600) and `NAME.key` (0644) in `directory`.

    Files in the format of `zmq.auth.create_certificates` (and czmq), so `zmq.auth` and other
    ZeroMQ tools read them. The secret file is created with mode 0600 (never readable by
    others, not even for an instant); `FileExistsError` unless `force` if either file exists.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"key name {name!r} must be letters, digits, '_', '.', '@' or '-'")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    public_path, secret_path = directory / f"{name}.key", directory / f"{name}.key_secret"
    existing = [str(p) for p in (secret_path, public_path) if p.exists() or p.is_symlink()]
    if existing and not force:
        raise FileExistsError(
            f"refusing to overwrite {' and '.join(existing)} (pass --force to replace them)"
        )
    public, secret = zmq.curve_keypair()
    _write_new_file(secret_path, _certificate_text(public, secret), 0o600, replace=force)
    _write_new_file(public_path, _certificate_text(public), 0o644, replace=force)
    return KeyPairFiles(public_path, secret_path, public.decode("ascii"))


def _certificate_text(public: bytes, secret: bytes | None = None) -> str:
    generated = datetime.datetime.now().isoformat(timespec="seconds")
    if secret is None:
        banner = "#   ZeroMQ CURVE Public Certificate\n#   Share it with the peers that trust it.\n"
    else:
        banner = (
            "#   ZeroMQ CURVE **Secret** Certificate\n"
            "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n"
        )
    lines = [
        f"#   ****  Generated on {generated} by zmqtui  ****\n{banner}\n",
        "metadata\n",
        "curve\n",
        f'    public-key = "{public.decode("ascii")}"\n',
    ]
    if secret is not None:
        lines.append(f'    secret-key = "{secret.decode("ascii")}"\n')
    return "".join(lines)


def _write_new_file(path: Path, text: str, mode: int, *, replace: bool) -> None:
    """Create `path` with `mode` from the first byte; with `replace`, swap it in atomically."""
    target = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp") if replace else path
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(target, flags, mode)
    try:
        os.fchmod(fd, mode)  # the exact mode whatever the umask; never wider than at creation
        with os.fdopen(fd, "w", encoding="ascii") as file:
            fd = -1
            file.write(text)
        if replace:
            os.replace(target, path)
    except BaseException:
        if fd != -1:
            os.close(fd)
        target.unlink(missing_ok=True)
        raise


# --- the profile -----------------------------------------------------------------------------


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


# --- the ZAP handler -------------------------------------------------------------------------


def _zap_reply(request_id: bytes, status: bytes, text: bytes, user: bytes = b"") -> list[bytes]:
    return [ZAP_VERSION, request_id, status, text, user, b""]


class ZapHandler:
    """Answers the ZAP requests of one Context on a thread of its own (`zmq.auth` protocol).

    Only CURVE clients whose public key is authorized for the server socket's ZAP domain get
    in; every other request, from an unknown domain or another mechanism, is refused. Unlike
    `zmq.auth.thread.ThreadAuthenticator`, its socket is not tracked by the Context, so a
    service's `ctx.destroy()` never closes it from the wrong thread: terminating the Context
    wakes the thread, which closes the socket and ends.
    """

    STOP_POLL_MS = 200
    """How often the thread looks whether `stop` was called."""

    def __init__(self, ctx: zmq.Context) -> None:
        self._ctx = ctx
        self._domains: dict[bytes, Callable[[], frozenset[bytes]]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.admitted = 0
        self.refused = 0

    def authorize(self, domain: bytes, keys: Callable[[], frozenset[bytes]]) -> None:
        """Admit, on sockets of `domain`, the CURVE clients whose Z85 key is in `keys()`."""
        self._domains[domain] = keys

    def start(self) -> None:
        """Bind the Context's ZAP endpoint and answer on a daemon thread."""
        sock = zmq.Socket(self._ctx, zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.bind(ZAP_ENDPOINT)
        except zmq.ZMQError as exc:
            sock.close()
            raise ConfigError(
                f"cannot start the CURVE authentication handler: {exc.strerror} "
                "(is another ZAP handler running on this Context?)"
            ) from None
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name="zmqtui-zap", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop answering; from then on libzmq refuses every client of our server sockets."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stopping.is_set()

    def _serve(self, sock: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        try:
            while not self._stopping.is_set():
                if poller.poll(self.STOP_POLL_MS):
                    sock.send_multipart(self.answer(sock.recv_multipart()))
        except zmq.ContextTerminated:
            pass
        finally:
            # unbind is immediate, close is not: no handshake may reach a handler that is going
            with contextlib.suppress(zmq.ZMQError):
                sock.unbind(ZAP_ENDPOINT)
            sock.close(linger=0)

    def answer(self, request: list[bytes]) -> list[bytes]:
        """The ZAP reply to one request: 200 for an authorized CURVE key, otherwise 400/500."""
        if len(request) < 6 or request[0] != ZAP_VERSION:
            request_id = request[1] if len(request) > 1 else b""
            return _zap_reply(request_id, b"500", b"malformed ZAP request")
        _version, request_id, domain, address, _identity, mechanism, *credentials = request
        keys = self._domains.get(domain)
        if keys is None:
            return _zap_reply(request_id, b"400", b"unknown ZAP domain")
        if mechanism != b"CURVE" or len(credentials) != 1 or len(credentials[0]) != 32:
            return _zap_reply(request_id, b"400", b"CURVE required")
        client_key = z85.encode(credentials[0])
        try:
            admitted = client_key in keys()
        except OSError as exc:
            log.error("refusing CURVE clients: cannot read the authorized keys: %s", exc)
            return _zap_reply(request_id, b"500", b"cannot read the authorized keys")
        if admitted:
            self.admitted += 1
            return _zap_reply(request_id, b"200", b"OK", client_key)
        self.refused += 1
        if self.refused <= LOGGED_REFUSALS:
            log.warning(
                "refused a CURVE client from %s: its key %s is not authorized%s",
                address.decode("utf-8", "replace"),
                client_key.decode("ascii"),
                " (further refusals are only counted)" if self.refused == LOGGED_REFUSALS else "",
            )
        return _zap_reply(request_id, b"400", b"unknown client key")


_handlers: dict[int, ZapHandler] = {}
_handlers_lock = threading.Lock()


def zap_handler(ctx: zmq.Context) -> ZapHandler:
    """The running ZAP handler of `ctx`'s libzmq context (shared by its shadows), started on
    first use and again after it stopped."""
    with _handlers_lock:
        for key in [key for key, handler in _handlers.items() if not handler.running]:
            del _handlers[key]
        handler = _handlers.get(ctx.underlying)
        if handler is None:
            handler = ZapHandler(ctx)
            handler.start()
            _handlers[ctx.underlying] = handler
        return handler


# --- telling a client why it gets no reply ---------------------------------------------------

HANDSHAKE_EVENTS = (
    zmq.EVENT_CONNECTED
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
)


def describe_handshake_failure(event: int, value: int, *, curve_client: bool) -> str:
    """A message a user can act on for a `HANDSHAKE_FAILED_*` monitor event."""
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        return (
            f"authentication failed: the server refused this client's CURVE key (ZAP status "
            f"{value}); its operator must add our public key to its curve_authorized directory"
        )
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            if curve_client:
                return "security mismatch: this client uses CURVE and the server does not"
            return (
                "security mismatch: the server requires CURVE and this client has no keys "
                "(set ZMQTUI_CURVE_SECRET and ZMQTUI_CURVE_SERVER)"
            )
        return f"ZeroMQ handshake failed: protocol error {value:#x}"
    if curve_client:
        return (
            "CURVE handshake failed: the server does not hold the key this client trusts "
            "(check curve_server, ZMQTUI_CURVE_SERVER)"
        )
    return f"ZeroMQ handshake failed ({os.strerror(value) if value else 'no detail'})"


class HandshakeWatch:
    """Why a client gets no reply: reads its socket's monitor for failed handshakes.

    Create it before `connect` (so no event is missed) and ask `failure()` after waiting in
    vain: a Lazy Pirate client can then say "the server refused our CURVE key" instead of a
    bare timeout. It belongs to the socket's owner; close it before the socket.
    """

    _addresses = itertools.count()

    def __init__(self, sock: zmq.Socket) -> None:
        self._sock = sock
        address = f"inproc://zmqtui-handshake-{os.getpid()}-{next(self._addresses)}"
        sock.monitor(address, HANDSHAKE_EVENTS)
        self._events = sock.context.socket(zmq.PAIR, socket_class=zmq.Socket)
        self._events.setsockopt(zmq.LINGER, 0)
        self._events.connect(address)
        self._failure: str | None = None
        self._pending: str | None = None
        """Endpoint connected to whose handshake has not finished yet."""

    def failure(self) -> str | None:
        """Why the last handshake failed or stalled, or None if none did (as far as we know)."""
        while True:
            try:
                frames = self._events.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(frames) == 2 and len(frames[0]) == 6:
                event, value = struct.unpack("=HI", frames[0])
                self._observe(event, value, frames[1].decode("utf-8", "replace"))
        if self._failure is None and self._pending is not None:
            return (
                f"connected to {self._pending}, but the handshake never completed: it may not "
                "be a ZeroMQ service, or its CURVE authentication handler is not running"
            )
        return self._failure

    def _observe(self, event: int, value: int, endpoint: str) -> None:
        if event == zmq.EVENT_CONNECTED:
            self._pending = endpoint
        elif event == zmq.EVENT_DISCONNECTED:
            self._pending = None
        elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._pending = self._failure = None
        elif event & (
            zmq.EVENT_HANDSHAKE_FAILED_AUTH
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
        ):
            self._pending = None
            curve_client = (
                not self._sock.closed and self._sock.getsockopt(zmq.MECHANISM) == zmq.CURVE
            )
            self._failure = describe_handshake_failure(event, value, curve_client=curve_client)

    def close(self) -> None:
        """Stop watching; call before closing the socket."""
        if not self._sock.closed:
            with contextlib.suppress(zmq.ZMQError):
                self._sock.disable_monitor()
        self._events.close(linger=0)

    def __enter__(self) -> HandshakeWatch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
