"""sd_notify messages reach a datagram socket, named by path or in the abstract namespace."""

from __future__ import annotations

import os
import secrets
import socket

from zmqtui.services.notify import Notifier, watchdog_interval


def test_messages_reach_an_abstract_socket_as_key_value_lines():
    name = f"zmqtui-test-{secrets.token_hex(4)}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind("\0" + name)
    listener.settimeout(5)
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": "@" + name})
    assert notifier is not None
    try:
        notifier.send(READY=1, STATUS="serving")
        assert listener.recv(4096) == b"READY=1\nSTATUS=serving"
    finally:
        notifier.close()
        listener.close()


def test_no_notifier_without_a_unix_socket_and_a_lost_one_is_harmless(tmp_path):
    assert Notifier.from_environment({}) is None
    assert Notifier.from_environment({"NOTIFY_SOCKET": "vsock:2:1234"}) is None
    gone = Notifier(str(tmp_path / "nobody"))
    gone.send(WATCHDOG=1)  # logged once, never raised
    gone.close()


def test_watchdog_pings_twice_per_timeout_for_this_process_only():
    pid = str(os.getpid())
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": pid}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "x"}) is None
    assert watchdog_interval({}) is None
