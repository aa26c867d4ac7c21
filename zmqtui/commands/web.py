"""`zmqtui web [--port P] [MONITOR OPTIONS]`: the monitor in a browser, served on loopback.

textual-serve runs a fresh `zmqtui [MONITOR OPTIONS]` for each browser tab that opens the page
and streams its screen over a websocket to xterm.js. Bare, each tab's monitor starts its own
embedded stack; with endpoint options each one attaches, as `zmqtui` does in a terminal.
"""

from __future__ import annotations

import re
import shlex
import sys
import tempfile
from pathlib import Path

import click

DEFAULT_WEB_PORT = 60404
"""Beside the embedded stack's 60400-60403."""


@click.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--port",
    type=click.IntRange(min=1, max=65535),
    default=DEFAULT_WEB_PORT,
    show_default=True,
    help="Port on 127.0.0.1 to serve the page on.",
)
@click.argument("monitor_args", nargs=-1, type=click.UNPROCESSED, metavar="[MONITOR OPTIONS]")
def command(port: int, monitor_args: tuple[str, ...]) -> None:
    """Serve the monitor at http://127.0.0.1:PORT: each visit runs `zmqtui [MONITOR OPTIONS]`.

    Only on loopback: whoever opens the page controls the monitor and what it attaches to.
    Reach it from elsewhere through an SSH tunnel (`ssh -L PORT:127.0.0.1:PORT host`).
    """
    from textual_serve.server import Server

    monitor = shlex.join([sys.executable, "-m", "zmqtui", *monitor_args])
    with tempfile.TemporaryDirectory(prefix="zmqtui-web-") as templates:
        server = Server(
            monitor,
            host="127.0.0.1",
            port=port,
            title="zmqtui",
            templates_path=local_templates(Path(templates)),
        )
        try:
            server.serve()
        except OSError as exc:
            click.echo(f"zmqtui web: cannot serve on 127.0.0.1:{port}: {exc.strerror}", err=True)
            sys.exit(2)


_REMOTE_STYLESHEET = re.compile(r"<link\b[^>]*\bhref=\"https?://[^>]*>\s*", re.IGNORECASE)


def local_templates(into: Path) -> Path:
    """textual-serve's page templates, copied into `into` without the stylesheets they load from
    other hosts (a web font): the page asks nothing of any host but the one serving it, and the
    terminal uses a local monospace font."""
    import textual_serve

    for template in (Path(textual_serve.__file__).parent / "templates").glob("*.html"):
        html = template.read_text(encoding="utf-8")
        (into / template.name).write_text(_REMOTE_STYLESHEET.sub("", html), encoding="utf-8")
    return into
