"""What every command shares: its settings, and running a service until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import click

from zmqtui.config import ConfigError, Settings, load_settings
from zmqtui.security import CurveProfile, use_profile
from zmqtui.services.sockets import EndpointError

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
