"""`zmqtui replay FILE`: publish a recording again, frames byte-identical."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import NoReturn

import click
import zmq

from zmqtui.commands._run import config_option, insecure_option, load_command_settings
from zmqtui.config import ConfigError
from zmqtui.format import format_rate, plural
from zmqtui.recording import RecordingError
from zmqtui.services.replayer import Replayer, ReplayProgress
from zmqtui.services.sockets import EndpointError
from zmqtui.text import printable

EXIT_OK = 0
EXIT_MALFORMED = 1
EXIT_USAGE = 2


class Speed(click.ParamType):
    """A positive factor, or `max` (None: as fast as it goes)."""

    name = "X|max"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float | None:
        if value is None or value == "max":
            return None
        if isinstance(value, float):
            return value
        try:
            speed = float(str(value))
        except ValueError:
            speed = 0.0
        if not speed > 0 or speed == float("inf"):
            self.fail(f"{value!r} is neither a positive number nor max", param, ctx)
        return speed


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bind", metavar="ENDPOINT", help="Publish on ENDPOINT, bound.")
@click.option(
    "--connect", metavar="ENDPOINT", help="Publish to ENDPOINT, connected (a SUB that binds)."
)
@click.option(
    "--speed",
    type=Speed(),
    metavar="X|max",
    default=1.0,
    show_default=True,
    help="Times faster than recorded (0.5 is half as fast); max sends as fast as subscribers take.",
)
@click.option("--loop", is_flag=True, help="Start again at the end, until Ctrl-C.")
@click.option(
    "--topic",
    "topics",
    multiple=True,
    metavar="PREFIX",
    help="Only messages whose first frame starts with PREFIX (repeatable) [default: all].",
)
@click.option(
    "--feed",
    "feeds",
    multiple=True,
    metavar="NAME",
    help="Only messages of the feed NAME (repeatable) [default: all].",
)
@click.option(
    "--wait-subscribers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="N",
    help="Before the first message, wait until N subscribers have connected and subscribed.",
)
@insecure_option
@config_option
def command(
    file: Path,
    bind: str | None,
    connect: str | None,
    speed: float | None,
    loop: bool,
    topics: tuple[str, ...],
    feeds: tuple[str, ...],
    wait_subscribers: int,
    insecure: bool,
    config_file: str | None,
) -> None:
    """Publish the messages of the recording FILE again, with their original timing.

    Every message goes out on an XPUB socket with its frames exactly as recorded. A subscriber
    that cannot keep up slows the replay down rather than losing messages. Progress goes to
    stderr every second; Ctrl-C stops.

    \b
    Exit status:
      0  replayed (or stopped by Ctrl-C / SIGTERM)
      1  replayed, but malformed lines of FILE were skipped (each reported)
      2  bad usage, settings or endpoint, or FILE is not a readable recording
    """
    if (bind is None) == (connect is None):
        raise click.UsageError("give one of --bind ENDPOINT or --connect ENDPOINT")
    try:
        load_command_settings(config_file)
    except ConfigError as exc:
        _fail(str(exc))
    ctx = zmq.Context()
    shown = Progress(sys.stderr.isatty())
    replayer = Replayer(
        ctx,
        file,
        bind or connect or "",
        bind=bind is not None,
        public=insecure,
        speed=speed,
        loop=loop,
        topics=[topic.encode() for topic in topics],
        feeds=feeds,
        wait_subscribers=wait_subscribers,
        on_progress=shown.show,
        on_note=_note,
    )
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: replayer.stop())
    try:
        endpoint = replayer.open()
        _note(f"publishing {file} on {endpoint}")
        progress = replayer.run()
    except (RecordingError, EndpointError) as exc:
        replayer.close()
        ctx.destroy(linger=0)
        _fail(str(exc))
    shown.end()
    replayer.close()
    ctx.term()  # waits for the queued messages to be delivered (bounded by the linger)
    click.echo(summary(progress, endpoint))
    sys.exit(EXIT_MALFORMED if progress.malformed else EXIT_OK)


class Progress:
    """Progress lines on stderr: one rewritten in place on a terminal, else one a second."""

    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal

    def show(self, progress: ReplayProgress) -> None:
        """One line: sent, where in the recording, passes done, how late."""
        text = f"zmqtui replay: {plural(progress.sent, 'message')} sent"
        text += f", {progress.position_s:.1f} s into the recording"
        if progress.loops:
            text += f", {plural(progress.loops, 'pass', 'passes')} done"
        if progress.behind_s >= 0.1:
            text += f", {progress.behind_s:.1f} s behind"
        if self.terminal:
            sys.stderr.write(f"\r\x1b[K{text}")
        else:
            sys.stderr.write(f"{text}\n")
        sys.stderr.flush()

    def end(self) -> None:
        """Leave the line rewritten in place."""
        if self.terminal:
            sys.stderr.write("\n")


def summary(progress: ReplayProgress, endpoint: str) -> str:
    """What was sent where: `replayed 10,000 messages in 0.8 s (12.5k/s) on tcp://...`."""
    seconds = progress.elapsed_s
    rate = progress.sent / seconds if seconds > 0 else None
    text = (
        f"replayed {plural(progress.sent, 'message')} in {seconds:.1f} s "
        f"({format_rate(rate)}) on {endpoint}"
    )
    if progress.loops > 1:
        text += f", {plural(progress.loops, 'pass', 'passes')}"
    if progress.stopped:
        text += ", stopped"
    if progress.malformed:
        text += f"; {plural(progress.malformed, 'malformed line')} skipped"
    return printable(text)


def _note(text: str) -> None:
    sys.stderr.write(f"zmqtui replay: {printable(text)}\n")
    sys.stderr.flush()


def _fail(text: str) -> NoReturn:
    click.echo(f"zmqtui replay: {printable(text)}", err=True)
    sys.exit(EXIT_USAGE)
