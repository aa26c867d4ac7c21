"""Binding: a clear error for every endpoint that cannot be had, and nothing destroyed."""

from __future__ import annotations

import socket

import pytest
import zmq
from helpers import wait_for

from zmqtui.services import sockets
from zmqtui.services.sockets import EndpointError


@pytest.mark.parametrize("join", [sockets.bind, sockets.connect])
def test_a_port_out_of_range_is_refused_not_wrapped(ctx, join):
    sock = ctx.socket(zmq.PUB)
    try:
        with pytest.raises(EndpointError, match="port 99999 is out of range"):
            join(sock, "tcp://127.0.0.1:99999")
        assert sock.getsockopt_string(zmq.LAST_ENDPOINT) == ""
    finally:
        sock.close(linger=0)


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


class TestQueuedMessages:
    async def test_takes_what_waits_up_to_the_limit_and_never_waits(self, actx, ipc_endpoint):
        pull = actx.socket(zmq.PULL)
        push = actx.socket(zmq.PUSH)
        try:
            pull.bind(ipc_endpoint())
            push.connect(ipc_endpoint())
            for i in range(5):
                await push.send_multipart([b"m", str(i).encode()])
            view = sockets.plain_view(pull)
            await wait_for(lambda: view.poll(0))
            taken = list(sockets.queued_messages(view, 3))
            assert 1 <= len(taken) <= 3
            await wait_for(
                lambda: taken.extend(sockets.queued_messages(view, 10)) or len(taken) == 5
            )
            assert [m[1] for m in taken] == [b"0", b"1", b"2", b"3", b"4"]
            assert list(sockets.queued_messages(view, 10)) == []  # nothing waits: it does not block

            await push.send_multipart([b"m", b"5"])
            await wait_for(lambda: view.poll(0))
            assert list(sockets.queued_messages(view, 10, deadline=0.0)) == []  # past the deadline
            assert list(sockets.queued_messages(view, 10)) == [[b"m", b"5"]]
        finally:
            push.close(linger=0)
            pull.close(linger=0)
