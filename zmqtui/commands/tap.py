"""`zmqtui tap --listen EP --forward EP`: a proxy that prints each request with its reply."""

from __future__ import annotations

import asyncio
import functools
import sys
from dataclasses import dataclass

import click
import zmq

from zmqtui.commands._run import (
    config_option,
    insecure_option,
    load_command_settings,
    log_to_stderr,
    run_service,
)
from zmqtui.format import clock_time, plural
from zmqtui.protocol import MAX_MESSAGE_BYTES
from zmqtui.services.owner import Owner
from zmqtui.services.tap import MAX_PENDING, Pair, PairPublisher, Tap, TapCounts, client_label
from zmqtui.text import printable, printable_json

PRINT_EVERY_S = 0.1
"""How often finished pairs are printed."""
SHOWN_CHARS = 60
"""Longest part of a frame printed per request or reply in a line."""
CLIENT_CHARS = 16


@click.command()
@click.option(
    "--listen",
    required=True,
    metavar="ENDPOINT",
    help="Where clients connect (a ROUTER is bound here).",
)
@click.option(
    "--forward",
    required=True,
    metavar="ENDPOINT",
    help="The service the requests go on to (a DEALER connects there).",
)
@click.option(
    "--timeout",
    "--timeout-ms",
    "timeout_ms",
    type=click.IntRange(min=1),
    metavar="MS",
    help="Flag a request with no reply after this long [default: `timeout_ms` setting, 2500].",
)
@click.option(
    "--max-pending",
    type=click.IntRange(min=1),
    default=MAX_PENDING,
    show_default=True,
    help="Requests kept waiting for a reply at most; past it the oldest is flagged.",
)
@click.option(
    "--max-request-bytes",
    type=click.IntRange(min=1),
    default=MAX_MESSAGE_BYTES,
    show_default=True,
    help="Largest request taken from a client; a bigger one drops that client's connection.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object per pair (JSON Lines)."
)
@click.option(
    "--pairs",
    metavar="ENDPOINT",
    help="Also publish each pair as one JSON message on a PUB bound here (what the monitor's "
    "--tap attaches to); loopback unless --insecure.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print no pairs (only the count at the end).")
@click.option("--owner-pid", type=click.IntRange(min=1), hidden=True)
@insecure_option
@config_option
def command(
    listen: str,
    forward: str,
    timeout_ms: int | None,
    max_pending: int,
    max_request_bytes: int,
    as_json: bool,
    pairs: str | None,
    quiet: bool,
    owner_pid: int | None,
    insecure: bool,
    config_file: str | None,
) -> None:
    """Proxy requests from clients on --listen to the service on --forward, and print each
    request with its reply: time, client, latency, the answering pid (from a JSON reply's
    "pid") and what each said. A request with no reply within --timeout is printed flagged.

    Pairs are exact whatever order replies come in, for any service that answers like REP
    (sends the request's envelope back). With --pairs, each pair is also published as JSON for
    the monitor (`zmqtui --tap ENDPOINT`). Stop with Ctrl-C; a count of what went through is
    printed to stderr.
    """
    log_to_stderr("tap")
    run_service(
        _tap(
            listen,
            forward,
            timeout_ms,
            max_pending,
            max_request_bytes,
            Output(as_json, pairs, quiet),
            owner_pid,
            insecure,
            config_file,
        )
    )


@dataclass(frozen=True, slots=True)
class Output:
    """Where pairs go: printed (as lines or JSON), published on `pairs`, or both."""

    as_json: bool
    pairs: str | None
    quiet: bool


async def _tap(
    listen: str,
    forward: str,
    timeout_ms: int | None,
    max_pending: int,
    max_request_bytes: int,
    output: Output,
    owner_pid: int | None,
    insecure: bool,
    config_file: str | None,
) -> int:
    settings = load_command_settings(config_file, timeout_ms=timeout_ms)
    ctx = zmq.Context()
    tap = Tap(
        ctx,
        listen,
        forward,
        timeout_ms=settings.timeout_ms,
        max_pending=max_pending,
        max_request_bytes=max_request_bytes,
        public=insecure,
    )
    publisher = None
    try:
        if output.pairs is not None:
            publisher = PairPublisher(ctx, output.pairs, public=insecure)
        bound = tap.start()
    except BaseException:
        if publisher is not None:
            publisher.close()
        ctx.destroy(linger=0)
        raise
    click.echo(f"Tapping clients on {bound}, forwarding to {forward}", err=True)
    if publisher is not None:
        click.echo(f"Publishing pairs on {publisher.bound}", err=True)
    owner = None if owner_pid is None else Owner(owner_pid)

    def emit(pairs: list[Pair]) -> None:
        if publisher is not None:
            publisher.publish(pairs)
        if not output.quiet:
            print_pairs(pairs, output.as_json, settings.timeout_ms)

    try:
        while tap.failed is None:
            await asyncio.sleep(PRINT_EVERY_S)
            emit(tap.drain())
            if owner is not None and not owner.alive():
                click.echo(f"zmqtui tap: process {owner.pid} is gone: stopping", err=True)
                return 0
        click.echo(f"zmqtui tap: stopped: {printable(str(tap.failed))}", err=True)
        return 1
    finally:
        tap.stop()
        emit(tap.drain())
        click.echo(format_counts(tap.counts), err=True)
        if publisher is not None:
            publisher.close()
        ctx.destroy(linger=0)


def print_pairs(pairs: list[Pair], as_json: bool, timeout_ms: int) -> None:
    """One line per pair, written at once (stdout may be a closed pipe: then nothing)."""
    if not pairs:
        return
    text = "\n".join(
        printable_json(pair.to_wire(SHOWN_CHARS)) if as_json else format_pair(pair, timeout_ms)
        for pair in pairs
    )
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass


def format_pair(pair: Pair, timeout_ms: int) -> str:
    """`TIME CLIENT LATENCY pid PID REQUEST -> REPLY`, or the request flagged as unanswered."""
    seconds, millis = divmod(int(pair.sent_ms), 1000)
    when = f"{_clock(seconds)}.{millis:03d}"
    client = printable(client_label(pair.client), limit=CLIENT_CHARS)
    request = pair.request.summary(SHOWN_CHARS)
    if pair.reply is None or pair.latency_ms is None:
        why = f"no reply in {timeout_ms} ms" if pair.why == "timeout" else "given up (memory)"
        return f"{when} {client:<16} {'!! ' + why:<28} {request}"
    pid = "-" if pair.pid is None else str(pair.pid)
    latency = f"{pair.latency_ms:.2f} ms"
    reply = pair.reply.summary(SHOWN_CHARS)
    return f"{when} {client:<16} {latency:>10}  pid {pid:<8}  {request} -> {reply}"


@functools.lru_cache(maxsize=4)
def _clock(seconds: int) -> str:
    """`HH:MM:SS`, worked out once a second rather than once a pair."""
    return clock_time(seconds * 1000)[:8]


def format_counts(counts: TapCounts) -> str:
    """What went through the tap, for stderr at the end."""
    return (
        f"Tapped {plural(counts.requests, 'request')}: {plural(counts.pairs, 'pair')},"
        f" {counts.timeouts} without a reply in time, {counts.evicted} given up,"
        f" {counts.late} late and {counts.unmatched} unmatched replies,"
        f" {counts.lost} not printed (the printer fell behind)"
    )
