"""`python -m benchmarks.decoders`: what decoding one ~100-byte message costs, per decoder.

Prints µs per message for each decoder forced and for the automatic choice, on a JSON, a
msgpack, a protobuf, a text and a binary frame of about 100 bytes: the ingest decodes nothing
it does not show, and these figures say what showing, filtering or printing costs.
"""

from __future__ import annotations

import os
import time

import msgpack
import orjson

from zmqtui.decoders import CHOICES, decode_frame, decode_message, one_line

RECORD = {"sym": "AAPL", "bid": 189.25, "ask": 189.27, "size": 300, "ts": 1_764_000_000_123}
FRAMES = {
    "json": orjson.dumps({**RECORD, "venue": "XNAS"}),
    "msgpack": msgpack.packb({**RECORD, "venue": "XNAS", "flags": [1, 2, 3]}),
    "protobuf": b"\x0a\x04AAPL\x11"
    + bytes(8)
    + b"\x19"
    + bytes(8)
    + b"\x20\xac\x02"
    + b"\x28\xfb\xe2\xc5\xfb\xd5\x33\x32\x04XNAS\x3a\x28"
    + bytes(range(1, 41)),
    "text": b"10001 23 45 weather station reading: humidity 40%, wind 12 km/h NNE, gusts",
    "binary": os.urandom(100),
}


def per_call_us(call, arg, repeat: int) -> float:
    """Best of 3 timings of `repeat` calls, in µs per call."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            call(arg)
        best = min(best, time.perf_counter() - start)
    return best / repeat * 1e6


def main(repeat: int = 20_000) -> None:
    print("| frame (bytes) | chosen | " + " | ".join(CHOICES) + " | auto + one line |")
    print("|---|---|" + "---|" * len(CHOICES) + "---|")
    for kind, frame in FRAMES.items():
        cells = [
            f"{per_call_us(lambda f, n=name: decode_frame(f, n), frame, repeat):.2f}"
            for name in CHOICES
        ]
        shown = per_call_us(lambda f: one_line(decode_frame(f), 120), frame, repeat)
        chosen = decode_frame(frame).decoder
        print(f"| {kind} ({len(frame)}) | {chosen} | " + " | ".join(cells) + f" | {shown:.2f} |")
    message = [b"md.AAPL", FRAMES["msgpack"]]
    whole = per_call_us(lambda m: decode_message(m).summary(120), message, repeat)
    print(f"\nmultipart [topic, msgpack] decoded and summarised: {whole:.2f} µs per message")
    print("figures: µs per call, best of 3 runs of", repeat)


if __name__ == "__main__":
    main()
