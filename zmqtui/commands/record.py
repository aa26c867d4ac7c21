"""`zmqtui record`: record every message of one or more feeds to a file (`zmqtui.recording`)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click
import zmq

from zmqtui.commands._run import config_option, load_command_settings, max_message_bytes_option
from zmqtui.config import ConfigError, check_endpoint
from zmqtui.format import format_bytes, plural
from zmqtui.recording import RecordedFeed, RecordingWriter
from zmqtui.services.recorder import Recorder, RecordResult
from zmqtui.services.sockets import EndpointError
from zmqtui.text import printable

EXIT_OK = 0
EXIT_WRITE_FAILED = 1
EXIT_USAGE = 2


@click.command()
@click.option(
    "--connect",
    "endpoints",
    multiple=True,
    required=True,
    metavar="ENDPOINT",
    help="A publisher to record (repeatable: one feed each).",
)
@click.option(
    "--subscribe",
    "prefixes",
    multiple=True,
    metavar="PREFIX",
    help="Record only messages whose first frame starts with PREFIX (repeatable; every feed) "
    "[default: everything].",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="FEED",
    help="The feed's name in the recording, one per --connect in order [default: its endpoint].",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The recording to write; a name ending in .zst compresses it with zstd.",
)
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="Stop after N messages.")
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), metavar="S", help="Stop after S s."
)
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@max_message_bytes_option("Largest message (frame) accepted; a bigger one is counted and reported.")
@config_option
def command(
    endpoints: tuple[str, ...],
    prefixes: tuple[str, ...],
    names: tuple[str, ...],
    out: Path,
    count: int | None,
    duration: float | None,
    force: bool,
    max_message_bytes: int,
    config_file: str | None,
) -> None:
    """Record every message of the publishers at ENDPOINT(s) to FILE, frames exactly.

    Runs until Ctrl-C (or SIGTERM), --count or --duration, then prints what it wrote. The file
    is JSON Lines: a header line, then one message per line with its receive time, feed and
    frames (docs/record-and-replay.md). Messages are written to disk at least every second.

    \b
    Exit status:
      0  recorded (whatever the number of messages)
      1  writing the file failed (disk full...): what was written before is kept
      2  bad usage, settings or endpoint, or FILE exists (without --force)
    """
    feeds = feeds_of(endpoints, names, prefixes)
    try:
        load_command_settings(config_file)
        for endpoint in endpoints:
            check_endpoint(endpoint)
    except ConfigError as exc:
        _fail(str(exc))
    try:
        writer = RecordingWriter(out, feeds, overwrite=force)
    except FileExistsError:
        _fail(f"{out} exists: choose another name, or pass --force to overwrite it")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror}")
    sys.exit(_record(writer, feeds, count, duration, max_message_bytes))


def feeds_of(
    endpoints: Sequence[str], names: Sequence[str], prefixes: Sequence[str]
) -> list[RecordedFeed]:
    """One feed per endpoint, named by `names` in order (else by its endpoint)."""
    if names and len(names) != len(endpoints):
        raise click.UsageError(
            f"give one --name per --connect ({len(endpoints)}), or none: got {len(names)}"
        )
    chosen = list(names) or list(endpoints)
    if len(set(chosen)) != len(chosen):
        raise click.UsageError("each feed needs its own name (--name, or distinct endpoints)")
    subscriptions = tuple(dict.fromkeys(prefixes)) or ("",)
    return [RecordedFeed(n, e, subscriptions) for n, e in zip(chosen, endpoints, strict=True)]


def _record(
    writer: RecordingWriter,
    feeds: list[RecordedFeed],
    count: int | None,
    duration: float | None,
    max_message_bytes: int,
) -> int:
    ctx = zmq.Context()
    recorder = Recorder(
        ctx,
        writer,
        feeds,
        count=count,
        duration=duration,
        max_message_bytes=max_message_bytes,
        on_problem=_warn,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: recorder.stop())
    code = EXIT_OK
    result = RecordResult()
    try:
        result = recorder.run()
    except EndpointError as exc:  # a connect libzmq refuses: nothing was recorded
        _warn(str(exc), "error")
        writer.close()
        writer.path.unlink(missing_ok=True)
        return EXIT_USAGE
    except OSError as exc:
        _warn(f"writing {writer.path} failed: {exc.strerror or exc}", "error")
        code = EXIT_WRITE_FAILED
    finally:
        ctx.destroy(linger=0)
        try:
            writer.close()
        except OSError as exc:
            _warn(f"writing {writer.path} failed: {exc.strerror or exc}", "error")
            code = EXIT_WRITE_FAILED
    click.echo(summary(result, writer))
    return code


def summary(result: RecordResult, writer: RecordingWriter) -> str:
    """What was written where: `recorded 10,000 messages in 3.2 s to F (61.2K, 1.1M uncompressed)`
    and the messages over the size limit, per feed."""
    size = writer.file_bytes if writer.path.exists() else 0
    sizes = format_bytes(size)
    if writer.raw_bytes != size:
        sizes += f", {format_bytes(writer.raw_bytes)} uncompressed"
    text = (
        f"recorded {plural(writer.messages, 'message')} in {result.seconds:.1f} s "
        f"to {writer.path} ({sizes})"
    )
    oversized = {name: n for name, n in result.oversized.items() if n}
    if oversized:
        parts = ", ".join(f"{n:,} from {name}" for name, n in oversized.items())
        text += f"; not recorded, over the size limit: {parts}"
    return printable(text)


def _warn(text: str, level: str = "warning") -> None:
    sys.stderr.write(f"zmqtui record: {level}: {printable(text)}\n")
    sys.stderr.flush()


def _fail(text: str) -> NoReturn:
    click.echo(f"zmqtui record: {printable(text)}", err=True)
    sys.exit(EXIT_USAGE)
