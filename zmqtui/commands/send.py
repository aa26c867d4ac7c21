"""`zmqtui send ENDPOINT FRAME...`: send any message to any request/reply service.

Exit codes as `zmqtui request`'s: 0 every message got a reply; 1 an error reply; 2 bad usage,
frame, settings or endpoint; 3 no reply after every try; 4 no reply because the handshake failed.
Each send that went is kept in the request history (`zmqtui.history`), as the monitor's are, so
the monitor's `r` sends it again; `--no-history` keeps it out.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import click
import zmq.asyncio

from zmqtui.collection import CollectionError, load_one
from zmqtui.commands._run import collection_options, load_command_settings, run_service
from zmqtui.commands.request import (
    EXIT_ERROR_REPLY,
    EXIT_HANDSHAKE_FAILED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    Asking,
    asking_options,
    format_load,
    load_exit_code,
)
from zmqtui.format import plural
from zmqtui.frames import (
    FrameSyntaxError,
    anchor_file,
    format_frame,
    frame_value,
    parse_frames,
)
from zmqtui.history import History, HistoryRecord, Outcome, load_outcome, send_outcome
from zmqtui.request_spec import RequestSpec, SocketKind
from zmqtui.results import SendResult, SendSummary, error_code, reply_pid
from zmqtui.services.sender import open_client, run_send_load
from zmqtui.text import printable, printable_json

EXIT_USAGE = 2


@click.command()
@click.argument("endpoint", metavar="ENDPOINT FRAME... | --collection DIR NAME")
@click.argument("frames", nargs=-1, metavar="")
@collection_options(
    "Send the request saved as NAME in this collection (its endpoint, frames, socket)."
)
@click.option(
    "--dealer",
    is_flag=True,
    help="Send on one DEALER socket, many in flight, replies matched by envelope [default: REQ].",
)
@click.option(
    "--no-history",
    "keep_history",
    flag_value=False,
    default=True,
    help="Keep this send out of the request history (the monitor's, where r resends it).",
)
@asking_options(
    "Messages", "Messages in flight at once (REQ: each on its own socket; DEALER: all on one)."
)
def command(
    endpoint: str,
    frames: tuple[str, ...],
    collection: Path | None,
    environment: str | None,
    dealer: bool,
    keep_history: bool,
    asking: Asking,
) -> None:
    """Send a message of one frame per FRAME to ENDPOINT and print the reply; or, with
    --collection, the request saved as NAME there (--dealer and --timeout-ms still apply).

    \b
    A FRAME is written
      json:{"a":1}   JSON, checked before sending
      text:hello     text (UTF-8)
      hex:00ff       bytes in hex, spaces allowed
      b64:AP8=       bytes in base64
      @file.bin      a file's bytes (at most 16 MiB)
      hello          anything else: the text as it is

    Replies are printed a frame a line in the same syntax. With --count N, N messages go with
    --concurrency C in flight and a summary is printed, as `zmqtui request` does. Each send is
    kept in the request history the monitor lists (unless --no-history).

    \b
    Exit status:
      0  every message got a reply
      1  an error reply ({"error": {"code": ...}} in a JSON reply)
      2  bad usage, frame, settings or endpoint
      3  no reply after every try (unavailable)
      4  no reply: the handshake failed (CURVE key refused, security mismatch)
    """
    if collection is not None:
        if frames:
            raise click.UsageError("with --collection, give only the saved request's NAME")
        spec, environment = saved_request(collection, endpoint, environment)
        if asking.timeout_ms is None:
            asking = replace(asking, timeout_ms=spec.timeout_ms)
    elif not frames:
        raise click.UsageError("give ENDPOINT and at least one FRAME (or --collection DIR NAME)")
    elif environment is not None:
        raise click.UsageError("--env fills a saved request's variables: use it with --collection")
    else:
        spec = RequestSpec(endpoint, frames)
    try:
        message = parse_frames(list(spec.frames))
    except FrameSyntaxError as exc:
        click.echo(describe_syntax_error(exc), err=True)
        if collection is not None and environment is not None:
            filled = f"{printable(spec.name)}, its variables filled from environment"
            click.echo(f"  (the saved request {filled} {printable(environment)!r})", err=True)
        sys.exit(EXIT_USAGE)
    kind: SocketKind = "DEALER" if dealer or spec.socket == "DEALER" else "REQ"
    anchored = tuple(anchor_file(frame, Path.cwd()) for frame in spec.frames)
    sent = replace(spec, frames=anchored, socket=kind, timeout_ms=asking.timeout_ms)
    kept = Kept(History(), environment) if keep_history else None
    run_service(_send(sent, message, asking, kept))


def saved_request(root: Path, name: str, environment: str | None) -> tuple[RequestSpec, str | None]:
    """The request `name` of the collection at `root`, its variables filled from
    `environment` (default: the collection's), and the environment that filled them; exits 2
    saying what is wrong."""
    try:
        saved = load_one(root, name)
        chosen = environment or saved.environments.initial()
        return saved.fill(saved.get(name), chosen), chosen
    except CollectionError as exc:
        click.echo(f"zmqtui: {printable(str(exc))}", err=True)
        sys.exit(EXIT_USAGE)


def describe_syntax_error(exc: FrameSyntaxError) -> str:
    """The error, then the argument with a caret under where it goes wrong."""
    column = len(printable(exc.argument[: exc.offset]))
    return f"zmqtui: {exc}\n  {printable(exc.argument)}\n  {' ' * column}^"


class Kept:
    """Where a send is kept once it has an outcome: the history, with the environment that
    filled its variables."""

    def __init__(self, history: History, environment: str | None) -> None:
        self.history = history
        self.environment = environment
        self.sent_ms = int(time.time() * 1000)

    def keep(self, spec: RequestSpec, outcome: Outcome, count: int, concurrency: int) -> None:
        """Append the send to the history; a history that cannot be written is told on
        stderr, never a reason to fail the send."""
        record = HistoryRecord(
            spec,
            self.sent_ms,
            reply=outcome.reply,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            environment=self.environment,
            count=count,
            concurrency=concurrency,
        )
        try:
            self.history.append(record)
        except OSError as exc:
            click.echo(f"zmqtui: history not kept: {exc.strerror or exc}", err=True)


async def _send(spec: RequestSpec, message: list[bytes], asking: Asking, kept: Kept | None) -> int:
    settings = load_command_settings(
        asking.config_file, timeout_ms=asking.timeout_ms, tries=asking.tries
    )
    endpoint, kind, as_json = spec.endpoint, spec.socket, asking.as_json
    options = {
        "kind": kind,
        "timeout_ms": settings.timeout_ms,
        "tries": settings.tries,
        "max_reply_bytes": asking.max_reply_bytes,
    }
    count, concurrency = asking.count, asking.concurrency
    ctx = zmq.asyncio.Context()
    try:
        if count > 1:
            summary = await run_send_load(ctx, endpoint, message, count, concurrency, **options)
            if kept is not None:
                kept.keep(spec, load_outcome(summary), count, concurrency)
            click.echo(printable_json(summary.to_wire()) if as_json else format_summary(summary))
            return load_exit_code(summary)
        if not as_json:
            click.echo(f"Sending {plural(len(message), 'frame')} to {endpoint} over {kind}")
        client = open_client(ctx, endpoint, **options)
        try:
            result = await client.request(message)
        finally:
            client.close()
        if kept is not None:
            kept.keep(spec, send_outcome(result), 1, 1)
        return report(result, endpoint, kind, settings.timeout_ms, as_json)
    finally:
        ctx.destroy(linger=0)


def report(result: SendResult, endpoint: str, kind: SocketKind, timeout_ms: int, as_json: bool):
    """Print one message's reply, a frame a line (or one JSON line); return the exit code."""
    if result.reply is None:
        if result.handshake_failure:
            click.echo(f"zmqtui: cannot talk to {endpoint}: {result.handshake_failure}", err=True)
            return EXIT_HANDSHAKE_FAILED
        click.echo(
            f"zmqtui: no reply from {endpoint} after {result.tries} tries of {timeout_ms} ms",
            err=True,
        )
        return EXIT_UNAVAILABLE
    if as_json:
        line = {
            "endpoint": endpoint,
            "socket": kind,
            "latency_ms": result.latency_ms,
            "tries": result.tries,
            "reply": [frame_value(frame) for frame in result.reply],
        }
        click.echo(printable_json(line))
    else:
        click.echo(
            f"Received {plural(len(result.reply), 'frame')} in {result.latency_ms:.1f} ms"
            f" ({plural(result.tries, 'try', 'tries')})"
        )
        for frame in result.reply:
            click.echo(format_frame(frame))
    code = error_code(result.reply)
    if code is None:
        return EXIT_OK
    if not as_json:
        pid = reply_pid(result.reply)
        who = "" if pid is None else f" from pid {pid}"
        click.echo(f"Received error {printable(code)}{who}", err=True)
    return EXIT_ERROR_REPLY


def format_summary(summary: SendSummary) -> str:
    """The load summary as aligned `label: value` lines, as `zmqtui request` prints its own."""
    head = (
        f"Sent {summary.sent} of {summary.count} messages of"
        f" {plural(summary.frames, 'frame')} to {summary.endpoint} over {summary.kind},"
        f" {summary.concurrency} in flight"
    )
    return format_load(head, summary)
