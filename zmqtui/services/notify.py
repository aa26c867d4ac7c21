"""systemd's service notification protocol (sd_notify(3)), for workers a host's systemd runs.

A service started with `Type=notify` finds a unix datagram socket's address in `$NOTIFY_SOCKET`
and sends it newline-separated `KEY=VALUE` lines: `READY=1` once it serves, `WATCHDOG=1` at
least every `$WATCHDOG_USEC` while it is healthy (with `WatchdogSec=`), `STOPPING=1` as it
leaves, `STATUS=...` for `systemctl status`. One `sendto` per message: nothing to depend on.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

logger = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages to the socket `$NOTIFY_SOCKET` names; never raises.

    A message systemd cannot take (its socket gone, say) is logged once and dropped: a worker
    serves on whether or not anybody listens.
    """

    def __init__(self, address: str) -> None:
        # "@name" is a socket in Linux's abstract namespace, written with a leading NUL byte.
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._failed = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier | None:
        """The notifier systemd asked for, or None when this process was not started by it."""
        environ = os.environ if environ is None else environ
        address = environ.get("NOTIFY_SOCKET", "")
        if not address.startswith(("/", "@")):
            if address:
                logger.warning("NOTIFY_SOCKET=%r is not a unix socket; not notifying", address)
            return None
        return cls(address)

    def send(self, **fields: object) -> None:
        """Send `KEY=value` lines in one datagram, e.g. `send(READY=1, STATUS="serving")`."""
        message = "\n".join(f"{key}={value}" for key, value in fields.items())
        try:
            self._sock.sendto(message.encode(), self.address)
        except OSError as exc:
            if not self._failed:
                logger.warning("cannot notify systemd at %s: %s", self.address, exc.strerror)
            self._failed = True

    def close(self) -> None:
        self._sock.close()


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between `WATCHDOG=1` pings (half of systemd's timeout), or None when no watchdog
    is set for this process."""
    environ = os.environ if environ is None else environ
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    watched_pid = environ.get("WATCHDOG_PID")
    if usec <= 0 or (watched_pid and watched_pid != str(os.getpid())):
        return None
    return usec / 2_000_000
