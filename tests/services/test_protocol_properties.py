"""Hostile input for the wire decoders: whatever arrives, they return well-typed messages or
raise `ProtocolError`, and every message we encode decodes to itself."""

from __future__ import annotations

import json
from dataclasses import fields

from hypothesis import example, given, settings
from hypothesis import strategies as st

from zmqtui.protocol import (
    MAX_ID_CHARS,
    MAX_MESSAGE_BYTES,
    MAX_PATH_CHARS,
    WORKER_STATES,
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

DECODERS = [decode_request, decode_event, decode_reply, decode_snapshot]
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)

# --- what may arrive -------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
"""Floats include NaN and ±Infinity, which Python's `json` reads as well as writes."""
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
worker_like = st.dictionaries(
    st.sampled_from([f.name for f in fields(WorkerStats)]) | st.text(max_size=4),
    json_values,
    max_size=8,
)
FIELD_NAMES = [
    "path", "id", "file", "timestamp", "type", "event", "seq", "publisher", "pid", "dest",
    "content", "routing", "endpoints", "broker",
]  # fmt: skip
shaped_objects = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(FIELD_NAMES, json_values),
        "error": json_values
        | st.dictionaries(st.sampled_from(["code", "message"]), json_values, max_size=2),
        "workers": json_values | st.lists(worker_like, max_size=3),
    },
)
"""Objects with the field names the decoders look for, holding values of any JSON type."""


def as_frames(value: object) -> list[bytes]:
    return [json.dumps(value).encode()]


def assert_decoded_or_refused(frames: list[bytes]) -> None:
    """Each decoder returns a well-typed message or refuses with a `ProtocolError`."""
    for decoder in DECODERS:
        try:
            message = decoder(frames)
        except ProtocolError as exc:
            assert exc.code in ErrorCode.__members__.values()
            assert isinstance(exc.message, str)
        else:
            assert_well_typed(message)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def assert_well_typed(message: object) -> None:
    """What a decoder returns has the types its class declares, so consumers can trust it."""
    if isinstance(message, FileRequest):
        assert isinstance(message.path, str) and 0 < len(message.path) <= MAX_PATH_CHARS
        assert message.id is None or (
            isinstance(message.id, str) and len(message.id) <= MAX_ID_CHARS
        )
    elif isinstance(message, ChangeEvent):
        assert isinstance(message.file, str) and is_int(message.timestamp)
        assert isinstance(message.type, str)
        for name in ("event", "publisher", "dest"):
            assert getattr(message, name) is None or isinstance(getattr(message, name), str)
        for name in ("seq", "pid"):
            assert getattr(message, name) is None or is_int(getattr(message, name))
    elif isinstance(message, FileReply | ErrorReply):
        assert is_int(message.timestamp) and is_int(message.pid)
        assert message.id is None or isinstance(message.id, str)
        texts = (
            [message.content] if isinstance(message, FileReply) else [message.code, message.message]
        )
        assert all(isinstance(text, str) for text in texts)
    else:
        assert isinstance(message, ClusterSnapshot)
        assert is_int(message.pid) and is_int(message.timestamp) and is_int(message.seq)
        assert isinstance(message.routing, str)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in message.endpoints.items())
        assert all(isinstance(k, str) and is_int(v) for k, v in message.broker.items())
        for worker in message.workers:
            assert is_int(worker.slot) and isinstance(worker.state, str)


# --- nothing but ProtocolError ---------------------------------------------------------------


@PROPERTY_SETTINGS
@given(frames=st.lists(st.binary(max_size=64), max_size=3))
@example(frames=[b"[" * 5000])  # nested deeper than the recursion limit
@example(frames=[b" " * (MAX_MESSAGE_BYTES + 1)])
@example(frames=[b'{"path": "a"}', b""])
@example(frames=[b'{"file": "\\ud800", "timestamp": 1}'])
def test_arbitrary_bytes_are_decoded_or_refused(frames):
    assert_decoded_or_refused(frames)


@PROPERTY_SETTINGS
@given(value=json_values | shaped_objects)
@example(value={"file": "f", "timestamp": float("inf")})
@example(value={"content": "c", "timestamp": float("nan")})
@example(value={"pid": 1e400, "timestamp": 0, "workers": []})
@example(value={"pid": 1, "timestamp": 0, "workers": [{"slot": 1, "state": ["x"]}]})
def test_arbitrary_json_values_are_decoded_or_refused(value):
    assert_decoded_or_refused(as_frames(value))


@PROPERTY_SETTINGS
@given(data=st.data(), value=shaped_objects)
def test_damaged_messages_are_decoded_or_refused(data, value):
    raw = bytearray(as_frames(value)[0])
    position = data.draw(st.integers(0, len(raw) - 1))
    if data.draw(st.booleans()):
        raw[position] = data.draw(st.integers(0, 255))
    else:
        del raw[position:]
    assert_decoded_or_refused([bytes(raw)])


# --- what we send decodes to itself ----------------------------------------------------------

clean_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
"""Text any decoder accepts: no NUL (no lone surrogates either: Hypothesis makes none)."""
ints = st.integers(min_value=-(2**63), max_value=2**63)
request_ids = st.none() | st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), max_size=MAX_ID_CHARS
)
finite_json = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False) | clean_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(clean_text, children, max_size=3)
    ),
    max_leaves=8,
)
EVENT_FIELDS = {f.name for f in fields(ChangeEvent)}


@PROPERTY_SETTINGS
@given(path=clean_text.filter(bool), request_id=request_ids)
def test_requests_round_trip(path, request_id):
    request = FileRequest(path=path, id=request_id)
    assert decode_request([request.encode()]) == request


@PROPERTY_SETTINGS
@given(
    event=st.builds(
        ChangeEvent,
        file=clean_text,
        timestamp=ints,
        event=st.none() | clean_text,
        seq=st.none() | ints,
        publisher=st.none() | clean_text,
        pid=st.none() | ints,
        dest=st.none() | clean_text,
        type=clean_text,
        extra=st.dictionaries(clean_text.filter(lambda k: k not in EVENT_FIELDS), finite_json),
    )
)
def test_events_round_trip(event):
    assert decode_event([event.encode()]) == event


@PROPERTY_SETTINGS
@given(
    reply=st.builds(FileReply, content=clean_text, timestamp=ints, pid=ints, id=request_ids)
    | st.builds(
        ErrorReply,
        code=st.sampled_from(list(ErrorCode)).map(str) | clean_text,
        message=clean_text,
        timestamp=ints,
        pid=ints,
        id=request_ids,
    )
)
def test_replies_round_trip(reply):
    assert decode_reply([reply.encode()]) == reply


finite = st.none() | st.floats(allow_nan=False, allow_infinity=False)
workers = st.builds(
    WorkerStats,
    slot=st.integers(0, 1000),
    state=st.sampled_from(WORKER_STATES),
    latency_ms=finite,
    cpu_percent=finite,
    **{
        f.name: ...
        for f in fields(WorkerStats)
        if f.name not in ("slot", "state", "latency_ms", "cpu_percent")
    },
)
"""Every field, new ones included, filled from its type annotation (JSON has no infinity)."""


@PROPERTY_SETTINGS
@given(
    snapshot=st.builds(
        ClusterSnapshot,
        pid=ints,
        timestamp=ints,
        endpoints=st.dictionaries(clean_text, clean_text, max_size=4),
        routing=st.sampled_from(["lb", "rr"]),
        broker=st.dictionaries(clean_text, ints, max_size=4),
        workers=st.lists(workers, max_size=4),
        seq=ints,
    )
)
def test_snapshots_round_trip(snapshot):
    # Compared as encoded JSON: a NaN in a stat would make the dataclasses unequal to themselves.
    assert decode_snapshot([snapshot.encode()]).encode() == snapshot.encode()
