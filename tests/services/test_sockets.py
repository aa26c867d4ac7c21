"""Binding: a clear error for every endpoint that cannot be had, and nothing destroyed."""

from __future__ import annotations

import socket

import pytest
import zmq

from zmqtui.services import sockets
from zmqtui.services.sockets import EndpointError


def test_ipc_bind_never_deletes_a_file_in_the_way(ctx, tmp_path):
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    sock = ctx.socket(zmq.REP)
    try:
        with pytest.raises(EndpointError, match="not a socket"):
            sockets.bind(sock, f"ipc://{precious}")
    finally:
        sock.close(linger=0)
    assert precious.read_text() == "keep me"


def test_ipc_bind_replaces_a_socket_file_left_by_a_dead_process(ctx, tmp_path):
    path = tmp_path / "stale"
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(path))
    leftover.close()  # the file stays, nobody listens
    sock = ctx.socket(zmq.REP)
    try:
        assert sockets.bind(sock, f"ipc://{path}") == f"ipc://{path}"
    finally:
        sock.close(linger=0)


def test_ipc_bind_refuses_a_path_someone_listens_on(ctx, tmp_path):
    path = tmp_path / "busy"
    first, second = ctx.socket(zmq.REP), ctx.socket(zmq.REP)
    try:
        sockets.bind(first, f"ipc://{path}")
        with pytest.raises(EndpointError, match="already in use"):
            sockets.bind(second, f"ipc://{path}")
    finally:
        first.close(linger=0)
        second.close(linger=0)


def test_ipc_bind_in_a_missing_directory_is_a_clear_error(ctx, tmp_path):
    sock = ctx.socket(zmq.REP)
    try:
        with pytest.raises(EndpointError, match="cannot bind"):
            sockets.bind(sock, f"ipc://{tmp_path}/absent/sock")
    finally:
        sock.close(linger=0)
