"""The wire envelope: what the book's scripts send decodes, and nothing else raises."""

from __future__ import annotations

import json

import pytest

from zmqtui.protocol import (
    MAX_MESSAGE_BYTES,
    ChangeEvent,
    ClusterSnapshot,
    ErrorCode,
    ErrorReply,
    FileReply,
    FileRequest,
    ProtocolError,
    WorkerStats,
    decode_event,
    decode_reply,
    decode_request,
    decode_snapshot,
)


class TestChangeEvent:
    def test_book_event_decodes(self):
        raw = b'{"type":"changed","file":"target.txt","timestamp":1700000000000}'
        event = decode_event([raw])
        assert (event.file, event.timestamp, event.seq) == ("target.txt", 1700000000000, None)

    def test_round_trip_keeps_extras(self):
        event = ChangeEvent(file="a", timestamp=5, event="modified", seq=3, extra={"x": 1})
        again = decode_event([event.encode()])
        assert again == event
        assert json.loads(event.encode())["type"] == "changed"

    @pytest.mark.parametrize(
        "raw",
        [b"", b"not json", b"[]", b'{"file": 3, "timestamp": 1}', b'{"file": "a"}', b"\xff\xfe"],
    )
    def test_malformed_event_raises_protocol_error(self, raw):
        with pytest.raises(ProtocolError):
            decode_event([raw])


class TestFileRequest:
    def test_book_request_decodes(self):
        assert decode_request([b'{"path":"target.txt"}']) == FileRequest("target.txt")

    def test_id_is_kept(self):
        assert decode_request([FileRequest("a", id="r1").encode()]).id == "r1"

    @pytest.mark.parametrize(
        ("frames", "code"),
        [
            ([b"{"], ErrorCode.BAD_JSON),
            ([b"\xff"], ErrorCode.BAD_JSON),
            ([b"[1]"], ErrorCode.BAD_REQUEST),
            ([b"{}"], ErrorCode.BAD_REQUEST),
            ([b'{"path": 7}'], ErrorCode.BAD_REQUEST),
            ([b'{"path": ""}'], ErrorCode.BAD_REQUEST),
            ([b'{"path": "a\\u0000b"}'], ErrorCode.BAD_REQUEST),
            ([b'{"path": "\\ud800"}'], ErrorCode.BAD_REQUEST),
            ([json.dumps({"path": "a" * 5000}).encode()], ErrorCode.BAD_REQUEST),
            ([b'{"path": "a"}', b"extra"], ErrorCode.BAD_REQUEST),
            ([], ErrorCode.BAD_REQUEST),
            ([b" " * (MAX_MESSAGE_BYTES + 1)], ErrorCode.BAD_REQUEST),
            ([b"[" * 50_000], ErrorCode.BAD_JSON),
        ],
    )
    def test_bad_request_has_stable_code(self, frames, code):
        with pytest.raises(ProtocolError) as caught:
            decode_request(frames)
        assert caught.value.code == code

    def test_error_keeps_request_id(self):
        with pytest.raises(ProtocolError) as caught:
            decode_request([b'{"id": "r9", "path": 1}'])
        assert caught.value.request_id == "r9"


class TestReplies:
    def test_file_reply_round_trip(self):
        reply = FileReply(content="hi [bold]", timestamp=1, pid=2, id="x")
        assert decode_reply([reply.encode()]) == reply

    def test_error_reply_shape(self):
        reply = ErrorReply(code="NOT_FOUND", message="no", timestamp=1, pid=2)
        wire = json.loads(reply.encode())
        assert wire == {"error": {"code": "NOT_FOUND", "message": "no"}, "timestamp": 1, "pid": 2}
        assert decode_reply([reply.encode()]) == reply

    def test_reply_without_content_or_error_raises(self):
        with pytest.raises(ProtocolError):
            decode_reply([b'{"timestamp": 1}'])


class TestSnapshot:
    def test_round_trip(self):
        snap = ClusterSnapshot(
            pid=1,
            timestamp=2,
            endpoints={"frontend": "tcp://127.0.0.1:1"},
            routing="lb",
            broker={"frontend_in": 3},
            workers=[WorkerStats(slot=0, pid=10, state="ready", requests=4)],
        )
        assert decode_snapshot([snap.encode()]) == snap

    @pytest.mark.parametrize(
        "raw", [b"{}", b'{"pid": 1, "timestamp": 1, "workers": [{}]}', b'{"workers": 3}']
    )
    def test_malformed_snapshot_raises(self, raw):
        with pytest.raises(ProtocolError):
            decode_snapshot([raw])


class TestHostileStats:
    @pytest.mark.parametrize(
        "entry",
        [
            {"slot": 0, "state": "ready", "requests": [1]},
            {"slot": 0, "state": "ready", "cpu_percent": "high"},
            {"slot": 0, "state": "ready", "remote": 1},
            {"slot": True, "state": "ready"},
            {"slot": 0, "state": "ready", "pid": 1.5},
            "not an object",
        ],
    )
    def test_wrongly_typed_worker_field_is_refused(self, entry):
        raw = json.dumps({"pid": 1, "timestamp": 1, "workers": [entry]}).encode()
        with pytest.raises(ProtocolError):
            decode_snapshot([raw])

    def test_integer_latency_is_accepted_as_float(self):
        raw = json.dumps(
            {"pid": 1, "timestamp": 1, "workers": [{"slot": 0, "state": "ready", "latency_ms": 2}]}
        ).encode()
        assert decode_snapshot([raw]).workers[0].latency_ms == 2.0


def test_undecodable_file_name_is_sent_as_valid_json():
    name = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    wire = ChangeEvent(file=name, timestamp=1).encode()
    wire.decode("utf-8")  # valid UTF-8 on the wire
    assert decode_event([wire]).file == name


def test_a_snapshot_of_256_workers_decodes():
    workers = [
        WorkerStats(
            slot=n,
            pid=10_000 + n,
            state="ready",
            requests=123_456,
            started=1_700_000_000_000,
            last_heartbeat=1_700_000_000_000,
            latency_ms=0.25,
            cpu_percent=12.5,
            memory_bytes=29_000_000,
            last_exit="killed by SIGKILL",
            host="worker-host",
        )
        for n in range(256)
    ]
    snap = ClusterSnapshot(
        pid=1, timestamp=2, endpoints={}, routing="lb", broker={}, workers=workers
    )
    wire = snap.encode()
    assert len(wire) > MAX_MESSAGE_BYTES
    assert decode_snapshot([wire]) == snap


def test_non_finite_extra_fields_round_trip_as_python_json_writes_them():
    event = ChangeEvent(file="a.txt", timestamp=1, extra={"score": float("inf")})
    assert decode_event([event.encode()]) == event


def test_an_integer_past_64_bits_in_a_nested_field_stays_an_integer():
    worker = WorkerStats(slot=0, pid=7, state="ready", memory_bytes=2**70)
    snap = ClusterSnapshot(
        pid=1, timestamp=2, endpoints={}, routing="lb", broker={}, workers=[worker]
    )
    assert decode_snapshot([snap.encode()]).workers[0].memory_bytes == 2**70
