"""`zmqtui serve --root DIR`: answer file requests on REP, like the book's zmq-filer-rep.js."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import zmq.asyncio

from zmqtui.commands._run import (
    config_option,
    insecure_option,
    load_command_settings,
    log_to_stderr,
    run_service,
)
from zmqtui.config import MAX_FILE_BYTES
from zmqtui.services.budget import map_large_allocations
from zmqtui.services.filer import Answer, FileRules, serve_files
from zmqtui.text import printable

SHOWN_CHARS = 200
"""Longest path or message printed per request; the rest is cut."""


@click.command()
@click.option(
    "--root",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The directory to serve; nothing outside it is ever read.",
)
@click.option(
    "--bind",
    "endpoint",
    metavar="ENDPOINT",
    help="Where to answer [default: the `req` setting, tcp://127.0.0.1:60401].",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=0),
    default=MAX_FILE_BYTES,
    show_default=True,
    help="Largest file served; bigger ones get a TOO_LARGE error reply.",
)
@insecure_option
@click.option("--quiet", "-q", is_flag=True, help="Do not print a line per request.")
@config_option
def command(
    root: Path,
    endpoint: str | None,
    max_bytes: int,
    insecure: bool,
    quiet: bool,
    config_file: str | None,
) -> None:
    """Serve the UTF-8 text files under ROOT to requesters, one request at a time.

    Each request `{"path": PATH}` (PATH relative to ROOT, or absolute under it) gets
    `{"content", "timestamp", "pid"}`, or an error reply with a stable code.
    """
    log_to_stderr("serve")
    map_large_allocations()
    run_service(_serve(root, endpoint, max_bytes, insecure, quiet, config_file))


async def _serve(
    root: Path,
    endpoint: str | None,
    max_bytes: int,
    insecure: bool,
    quiet: bool,
    config_file: str | None,
) -> None:
    settings = load_command_settings(config_file, req=endpoint)
    ctx = zmq.asyncio.Context()
    try:
        await serve_files(
            ctx,
            settings.req,
            FileRules(root, max_bytes),
            public=insecure,
            on_bound=lambda bound: click.echo(f"Listening for zmq requesters on {bound}"),
            on_answer=None if quiet else print_answer,
        )
    except asyncio.CancelledError:
        click.echo("Shutting down")
        raise
    finally:
        ctx.destroy(linger=0)


def print_answer(answer: Answer) -> None:
    """`Received request: PATH` like the book, plus a line for an error reply."""
    if answer.request is not None:
        click.echo(f"Received request: {printable(answer.request.path, limit=SHOWN_CHARS)}")
    reply = answer.error
    if reply is not None:
        prefix = "Replied" if answer.request is not None else "Received a bad request; replied"
        click.echo(
            f"{prefix} with error {reply.code}: {printable(reply.message, limit=SHOWN_CHARS)}"
        )
