"""`zmqtui subscribe`: print change events, like the book's zmq-watcher-sub.js."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence

import click
import zmq.asyncio

from zmqtui.commands._run import config_option, load_command_settings, run_service
from zmqtui.format import js_date
from zmqtui.protocol import ChangeEvent
from zmqtui.services.subscriber import (
    Received,
    SequenceTracker,
    describe_raw,
    iter_event_batches,
    topic_for,
)
from zmqtui.text import printable, printable_json


@click.command()
@click.option(
    "--connect",
    "endpoint",
    metavar="ENDPOINT",
    help="The publisher to connect to [default: the `pub` setting, tcp://127.0.0.1:60400].",
)
@click.option(
    "--prefix",
    "prefixes",
    multiple=True,
    metavar="P",
    help="Only events whose file path starts with P (repeatable; P starting with `{` is a raw "
    "prefix of the JSON message) [default: everything].",
)
@click.option("--json", "as_json", is_flag=True, help="Print each event as one line of JSON.")
@config_option
def command(
    endpoint: str | None, prefixes: tuple[str, ...], as_json: bool, config_file: str | None
) -> None:
    """Print `File <file> changed at <date>` for each change event a publisher sends.

    Missed events (when not filtering by prefix), a new or restarted publisher and malformed
    messages are reported on stderr, one line each.
    """
    run_service(_subscribe(endpoint, prefixes or ("",), as_json, config_file))


async def _subscribe(
    endpoint: str | None, prefixes: Sequence[str], as_json: bool, config_file: str | None
) -> int:
    settings = load_command_settings(config_file, pub=endpoint)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")
    tracker = SequenceTracker(report_gaps=any(topic_for(p) == b"" for p in prefixes))
    ctx = zmq.asyncio.Context()
    try:
        async for batch in iter_event_batches(ctx, settings.pub, prefixes, on_problem=_warn):
            _print_batch(batch, tracker, as_json)
    except BrokenPipeError:  # `zmqtui subscribe | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        ctx.destroy(linger=0)
    return 0


def _print_batch(batch: list[Received], tracker: SequenceTracker, as_json: bool) -> None:
    lines: list[str] = []
    for received in batch:
        if received.event is None:
            _flush(lines)
            _warn(f"malformed message ({received.error}): {describe_raw(received.raw)}")
            continue
        for note in tracker.observe(received.event, received.received_ms):
            _flush(lines)
            _warn(note)
        lines.append(json_line(received.event) if as_json else human_line(received.event))
    _flush(lines)


def _flush(lines: list[str]) -> None:
    if lines:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        lines.clear()


def _warn(text: str) -> None:
    sys.stderr.write(f"zmqtui subscribe: warning: {printable(text)}\n")
    sys.stderr.flush()


def human_line(event: ChangeEvent) -> str:
    """The book's line: `File <file> changed at <date>`."""
    return f"File {printable(event.file)} changed at {js_date(event.timestamp)}"


def json_line(event: ChangeEvent) -> str:
    """The event as it was published, as one line of JSON (controls as JSON escapes)."""
    return printable_json(event.to_wire())
