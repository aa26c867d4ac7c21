"""Key files: reading, validating and writing CURVE key pairs, and the authorized keys
directory a server admits."""

from __future__ import annotations

import datetime
import os
import re
import secrets
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.auth import load_certificate
from zmq.utils import z85

from zmqtui.config import ConfigError


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
