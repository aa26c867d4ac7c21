"""What every command shares: its settings, and running a service until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any

import click

from zmqtui.config import DEFAULT_MAX_FEED_BYTES, ConfigError, Settings, load_settings
from zmqtui.security import CurveProfile, use_profile
from zmqtui.services.sockets import EndpointError
from zmqtui.text import MULTI_LINE, printable

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="TOML settings file [default: $ZMQTUI_CONFIG or ~/.config/zmqtui/config.toml].",
)
"""The `--config FILE` option every command that reads settings takes."""

insecure_option = click.option(
    "--insecure",
    is_flag=True,
    help="Allow binding a non-loopback address without CURVE keys.",
)
"""The `--insecure` option of every command that binds."""


def max_message_bytes_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The `--max-message-bytes N` option of every command that subscribes to feeds (4 MiB by
    default, as a `[[feeds]]` table's `max_message_bytes`)."""
    return click.option(
        "--max-message-bytes",
        type=click.IntRange(min=1),
        metavar="N",
        default=DEFAULT_MAX_FEED_BYTES,
        show_default=True,
        help=help,
    )


def collection_options(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`--collection DIR` (saved requests, `zmqtui.collection`), saying with `help` what the
    command does with it, and `--env NAME`, the environment that fills their `${variables}`."""
    collection = click.option(
        "--collection", metavar="DIR", type=click.Path(file_okay=False, path_type=Path), help=help
    )
    environment = click.option(
        "--env",
        "environment",
        metavar="NAME",
        help="The collection environment ${variables} are filled from [default: the collection's].",
    )
    return lambda command: collection(environment(command))


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
"""What `sys.exc_info()` returns, as `logging.Formatter.formatException` takes it."""


class PlainTextFormatter(logging.Formatter):
    """Log lines that may quote a peer (a remote worker's host name and id, a request path)
    escaped like everything else printed: a message stays one line and cannot drive the
    terminal; a traceback keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return printable(super().formatMessage(record))

    def formatException(self, ei: ExcInfo) -> str:
        return printable(super().formatException(ei), keep=MULTI_LINE)

    def formatStack(self, stack_info: str) -> str:
        return printable(super().formatStack(stack_info), keep=MULTI_LINE)


def log_to_stderr(command: str, level: int = logging.WARNING) -> None:
    """Log to stderr as `zmqtui COMMAND: LEVEL: message`, plain text (`PlainTextFormatter`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(PlainTextFormatter(f"zmqtui {command}: %(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def load_command_settings(config_file: str | None, **overrides: Any) -> Settings:
    """A command's settings, with the CURVE keys they name (if any) made the process's own."""
    settings = load_settings(config_file, **overrides)
    use_profile(CurveProfile.from_settings(settings))
    return settings


def run_service(main: Coroutine[Any, Any, int | None]) -> None:
    """Run `main` until it returns or a signal arrives; exit with its code (0 on a signal)."""

    async def supervised() -> int | None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        try:
            return await main
        except asyncio.CancelledError:
            return 0

    try:
        code = asyncio.run(supervised())
    except (EndpointError, ConfigError) as exc:
        click.echo(f"zmqtui: {exc}", err=True)
        sys.exit(2)
    sys.exit(code or 0)
