"""`zmqtui ctl COMMAND`: steer a running cluster through its control endpoint."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import click
import zmq.asyncio

from zmqtui.commands._run import config_option, load_command_settings
from zmqtui.config import ConfigError
from zmqtui.format import format_bytes, format_duration
from zmqtui.protocol import ProtocolError, WorkerStats, snapshot_from_wire
from zmqtui.services.control import COMMANDS, ControlError, HandshakeFailed, send_command
from zmqtui.text import printable, printable_json

EXIT_HANDSHAKE_FAILED = 4
"""As `zmqtui request`'s."""

_NEEDS = {"scale": "N", "restart": "PID", "kill": "PID", "drain": "PID"}
_OPTIONAL = {"remove": "PID", "add": "N"}


@click.command()
@click.argument("action", type=click.Choice(COMMANDS))
@click.argument("value", type=click.IntRange(min=0), required=False)
@click.option(
    "--control",
    metavar="ENDPOINT",
    help="The cluster's control endpoint [default: the `control` setting, tcp://127.0.0.1:60403].",
)
@click.option(
    "--timeout",
    "timeout_ms",
    type=click.IntRange(min=1),
    help="Milliseconds to wait for each try [default: the `timeout_ms` setting, 2500].",
)
@click.option(
    "--tries",
    type=click.IntRange(min=1),
    help="Tries before giving up [default: the `tries` setting, 3].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the reply as JSON.")
@config_option
def command(
    action: str,
    value: int | None,
    control: str | None,
    timeout_ms: int | None,
    tries: int | None,
    as_json: bool,
    config_file: str | None,
) -> None:
    """Send ACTION to a cluster: list | scale N | add [N] | remove [PID] | restart PID | kill PID
    | drain PID | stop.

    `kill` is like a crash (the worker is replaced, with backoff); `restart`, `remove` and
    `scale` stop workers on purpose; `drain` stops one, remote ones too, once it has answered
    what it holds.

    \b
    Exit status:
      0  done
      1  the cluster refused the command
      2  bad usage or settings, no answer after every try, or an answer that is no reply
      4  no answer: the handshake failed (CURVE key refused, security mismatch)
    """
    if action in _NEEDS and value is None:
        raise click.UsageError(f"{action} needs {_NEEDS[action]}")
    if value is not None and action not in _NEEDS and action not in _OPTIONAL:
        raise click.UsageError(f"{action} takes no argument")
    try:
        settings = load_command_settings(
            config_file, control=control, timeout_ms=timeout_ms, tries=tries
        )
    except ConfigError as exc:
        click.echo(f"zmqtui ctl: {exc}", err=True)
        sys.exit(2)
    args: dict[str, int] = {}
    if value is not None:
        args["n" if action in ("scale", "add") else "pid"] = value
    try:
        reply = asyncio.run(
            _send(settings.control, action, settings.timeout_ms, settings.tries, args)
        )
    except HandshakeFailed as exc:
        click.echo(f"zmqtui ctl: {exc}", err=True)
        sys.exit(EXIT_HANDSHAKE_FAILED)
    except ControlError as exc:
        click.echo(f"zmqtui ctl: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(printable_json(reply, indent=2))
    elif reply.get("ok") and action == "list":
        try:
            click.echo(format_workers(reply))
        except ProtocolError as exc:
            message = printable(exc.message)
            click.echo(f"zmqtui ctl: {settings.control} answered with a {message}", err=True)
            sys.exit(2)
    elif reply.get("ok"):
        click.echo(printable(str(reply.get("message", "ok"))))
    if not reply.get("ok"):
        click.echo(f"zmqtui ctl: {printable(str(reply.get('error', 'refused')))}", err=True)
        sys.exit(1)


async def _send(
    endpoint: str, action: str, timeout_ms: int, tries: int, args: dict[str, int]
) -> dict[str, Any]:
    ctx = zmq.asyncio.Context()
    try:
        return await send_command(ctx, endpoint, action, timeout_ms, tries=tries, **args)
    finally:
        ctx.destroy(linger=0)


_COLUMNS = (
    "SLOT",
    "PID",
    "STATE",
    "REQUESTS",
    "ERRORS",
    "RESTARTS",
    "CRASHES",
    "UPTIME",
    "LATENCY",
    "CPU%",
    "RSS",
    "LAST EXIT",
)


def format_workers(reply: dict[str, Any], now_ms: int | None = None) -> str:
    """The `list` reply as a plain-text table with a one-line header about the cluster;
    `ProtocolError` when the reply is not a snapshot. Its text is escaped: it came from a peer."""
    snapshot = snapshot_from_wire(reply)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    endpoints, broker = snapshot.endpoints, snapshot.broker
    head = printable(
        f"cluster pid {snapshot.pid} · routing {snapshot.routing} · "
        f"frontend {endpoints.get('frontend')} · backend {endpoints.get('backend')} · "
        f"{broker.get('frontend_in', 0)} frames in, {broker.get('frontend_out', 0)} out"
    )
    rows = [_COLUMNS]
    for worker in snapshot.workers:
        live = worker.state not in ("dead", "errored")
        uptime = "-"
        if worker.started and live:
            uptime = format_duration((now_ms - worker.started) / 1000)
        cells = (
            str(worker.slot) + _remote_label(worker),
            _text(worker.pid),
            worker.state,
            str(worker.requests),
            str(worker.errors),
            str(worker.restarts),
            str(worker.crashes),
            uptime,
            _unit(worker.latency_ms, "ms"),
            _unit(worker.cpu_percent, ""),
            _size(worker.memory_bytes),
            _text(worker.last_exit),
        )
        rows.append(tuple(printable(cell) for cell in cells))
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join([head, *lines])


def _remote_label(worker: WorkerStats) -> str:
    """ " (remote on HOST)" for a worker that joined over the network: with its pid, it names
    the worker wherever it runs."""
    if not worker.remote:
        return ""
    return f" (remote on {printable(worker.host, limit=40)})" if worker.host else " (remote)"


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _unit(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def _size(value: int | None) -> str:
    return "-" if value is None else format_bytes(value)
