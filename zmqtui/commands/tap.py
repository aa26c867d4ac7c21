"""`zmqtui tap --listen EP --forward EP`: a proxy that prints each request with its reply."""

from __future__ import annotations

import asyncio
import functools
import gc
import sys
from dataclasses import dataclass
from typing import Any

import click
import orjson
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
from zmqtui.text import printable, printable_json, printable_json_text

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

    def emit() -> None:
        """Publish and print the pairs finished since the last call. The collector waits
        meanwhile: pairs hold no cycles (reference counting frees them), and the thousands of
        tuples a drain makes would set off collections that walk them all."""
        gc.disable()
        try:
            pairs = tap.drain()
            if publisher is not None:
                publisher.publish(pairs)
            if not output.quiet:
                print_pairs(pairs, output.as_json, settings.timeout_ms)
        finally:
            gc.enable()

    try:
        while tap.failed is None:
            await asyncio.sleep(PRINT_EVERY_S)
            emit()
            if owner is not None and not owner.alive():
                click.echo(f"zmqtui tap: process {owner.pid} is gone: stopping", err=True)
                return 0
        click.echo(f"zmqtui tap: stopped: {printable(str(tap.failed))}", err=True)
        return 1
    finally:
        tap.stop()
        emit()
        click.echo(format_counts(tap.counts), err=True)
        if publisher is not None:
            publisher.close()
        ctx.destroy(linger=0)


def print_pairs(pairs: list[Pair], as_json: bool, timeout_ms: int) -> None:
    """One line per pair, written at once (stdout may be a closed pipe: then nothing)."""
    if not pairs:
        return
    if as_json:
        lines = [_json_line(pair.to_wire(SHOWN_CHARS)) for pair in pairs]
    else:
        lines = [format_pair(pair, timeout_ms) for pair in pairs]
    lines.append("")
    try:
        sys.stdout.write("\n".join(lines))
        sys.stdout.flush()
    except BrokenPipeError:
        pass


def _json_line(wire: dict[str, Any]) -> str:
    """`printable_json(wire)`, written by orjson, which writes a pair as json does (see
    `ascii_json`) but refuses lone surrogates: those go to `printable_json`."""
    try:
        return printable_json_text(orjson.dumps(wire).decode())
    except orjson.JSONEncodeError:
        return printable_json(wire)


def format_pair(pair: Pair, timeout_ms: int) -> str:
    """`TIME CLIENT LATENCY pid PID REQUEST -> REPLY`, or the request flagged as unanswered."""
    sent_ms, client, request, reply, latency_ms, why = pair
    when = _clock(int(sent_ms))
    client = _client_column(client)
    request = request.summary(SHOWN_CHARS)
    if reply is None or latency_ms is None:
        why = f"no reply in {timeout_ms} ms" if why == "timeout" else "given up (memory)"
        return f"{when} {client} {'!! ' + why:<28} {request}"
    return (
        f"{when} {client} {'%7.2f' % latency_ms} ms  pid {_pid_column(reply.pid())}"  # noqa: UP031
        f"  {request} -> {reply.summary(SHOWN_CHARS)}"
    )


@functools.lru_cache(maxsize=1024)
def _clock(ms: int) -> str:
    """`HH:MM:SS.mmm`, worked out once a millisecond rather than once a pair."""
    return f"{_clock_second(ms // 1000)}.{ms % 1000:03d}"


@functools.lru_cache(maxsize=4)
def _clock_second(seconds: int) -> str:
    """`HH:MM:SS`, worked out once a second."""
    return clock_time(seconds * 1000)[:8]


@functools.lru_cache(maxsize=1024)
def _client_column(identity: bytes) -> str:
    """A client's label as its column shows it, worked out once per client."""
    return f"{printable(client_label(identity), limit=CLIENT_CHARS):<{CLIENT_CHARS}}"


@functools.lru_cache(maxsize=1024)
def _pid_column(pid: int | None) -> str:
    return f"{'-' if pid is None else pid:<8}"


def format_counts(counts: TapCounts) -> str:
    """What went through the tap, for stderr at the end."""
    return (
        f"Tapped {plural(counts.requests, 'request')}: {plural(counts.pairs, 'pair')},"
        f" {counts.timeouts} without a reply in time, {counts.evicted} given up,"
        f" {counts.late} late and {counts.unmatched} unmatched replies,"
        f" {counts.lost} not printed (the printer fell behind)"
    )
