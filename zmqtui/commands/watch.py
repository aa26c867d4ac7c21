"""`zmqtui watch PATH...`: publish file change events, like the book's zmq-watcher-pub.js."""

from __future__ import annotations

import asyncio

import click
import zmq.asyncio

from zmqtui.commands._run import (
    config_option,
    insecure_option,
    load_command_settings,
    log_to_stderr,
    run_service,
)
from zmqtui.services.watcher import COALESCE_MS, ChangePublisher


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True), metavar="PATH...")
@click.option(
    "--bind",
    "endpoint",
    metavar="ENDPOINT",
    help="Where to publish [default: the `pub` setting, tcp://127.0.0.1:60400].",
)
@click.option(
    "--coalesce-ms",
    type=click.IntRange(min=0),
    default=COALESCE_MS,
    show_default=True,
    help="Merge a path's further events within this window into one (0: publish all).",
)
@click.option(
    "--recursive", "-r", is_flag=True, help="Watch directories with their subdirectories."
)
@insecure_option
@config_option
def command(
    paths: tuple[str, ...],
    endpoint: str | None,
    coalesce_ms: int,
    recursive: bool,
    insecure: bool,
    config_file: str | None,
) -> None:
    """Watch files or directories and publish a JSON event for each change.

    A file is published under the name given here; a change inside a directory under the
    directory's name joined with the changed file's path inside it. Each change is published
    once, under the most specific path given (a file given with its directory: the file's).
    """
    log_to_stderr("watch")
    run_service(_watch(paths, endpoint, coalesce_ms, recursive, insecure, config_file))


async def _watch(
    paths: tuple[str, ...],
    endpoint: str | None,
    coalesce_ms: int,
    recursive: bool,
    insecure: bool,
    config_file: str | None,
) -> None:
    settings = load_command_settings(config_file, pub=endpoint)
    ctx = zmq.asyncio.Context()
    publisher = ChangePublisher(
        ctx, settings.pub, paths, coalesce_ms=coalesce_ms, public=insecure, recursive=recursive
    )
    running = asyncio.create_task(publisher.run())
    bound = asyncio.create_task(publisher.bound.wait())
    try:
        await asyncio.wait({running, bound}, return_when=asyncio.FIRST_COMPLETED)
        if bound.done():
            click.echo(f"Listening for zmq subscribers on {publisher.endpoint}")
        await running
    finally:
        running.cancel()
        bound.cancel()
        await asyncio.gather(running, bound, return_exceptions=True)
        ctx.destroy(linger=0)
