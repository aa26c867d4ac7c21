"""`zmqtui` and its subcommands.

Each subcommand lives in its own module under `zmqtui.commands` and is imported only when it
runs, so `zmqtui serve` never pays for importing Textual. Bare `zmqtui` (or `zmqtui PATH`, or
`zmqtui --sub ...`) runs the monitor.
"""

from __future__ import annotations

import importlib

import click

COMMANDS: dict[str, tuple[str, str]] = {
    "monitor": ("zmqtui.commands.monitor", "Open the terminal UI (the default command)."),
    "watch": ("zmqtui.commands.watch", "Publish file change events (zmq-watcher-pub.js)."),
    "subscribe": ("zmqtui.commands.subscribe", "Print change events (zmq-watcher-sub.js)."),
    "serve": ("zmqtui.commands.serve", "Answer file requests on REP (zmq-filer-rep.js)."),
    "request": (
        "zmqtui.commands.request",
        "Request a file and print the reply (zmq-filer-req.js).",
    ),
    "send": ("zmqtui.commands.send", "Send any message (frames) to any REQ/REP service."),
    "tap": ("zmqtui.commands.tap", "Proxy requests to a service, printing each with its reply."),
    "record": ("zmqtui.commands.record", "Record every message of one or more feeds to a file."),
    "replay": ("zmqtui.commands.replay", "Publish a recording again, with its timing or faster."),
    "diff": ("zmqtui.commands.diff", "Compare two recordings topic by topic."),
    "cluster": ("zmqtui.commands.cluster", "Run the filer cluster: broker plus worker processes."),
    "worker": ("zmqtui.commands.worker", "Run one filer worker that joins a cluster's backend."),
    "ctl": ("zmqtui.commands.ctl", "Steer a running cluster: list, scale, kill, restart, stop."),
    "keygen": ("zmqtui.commands.keygen", "Make a CURVE key pair for secured endpoints."),
    "web": ("zmqtui.commands.web", "Serve the monitor in a browser, on loopback."),
}
DEFAULT_COMMAND = "monitor"
MONITOR_PATH_HELP = (
    "Embedded: the directory to watch and serve [default: the current directory]. "
    "Attached: the root for path completion in the requests pane."
)


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        return module.command

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[PATH] [MONITOR OPTIONS]")
        formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="   or: ")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The monitor's options first: bare `zmqtui` is the monitor, and they are its."""
        monitor = self.get_command(ctx, DEFAULT_COMMAND)
        assert monitor is not None
        monitor_ctx = click.Context(monitor, info_name=DEFAULT_COMMAND, parent=ctx)
        rows = [("PATH", MONITOR_PATH_HELP)]
        for param in monitor.params:
            record = param.get_help_record(monitor_ctx)
            if isinstance(param, click.Option) and record is not None:
                rows.append(record)
        with formatter.section("Monitor options (zmqtui [PATH] ...)"):
            formatter.write_dl(rows)
        super().format_options(ctx, formatter)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_text) for name, (_, help_text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, route(args))


def route(args: list[str]) -> list[str]:
    """Anything that is not a subcommand (a path, `--sub ...`) goes to the monitor."""
    if not args or (args[0] not in COMMANDS and args[0] not in ("--help", "-h", "--version")):
        return [DEFAULT_COMMAND, *args]
    return args


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zmqtui")
def main() -> None:
    """Build and watch ZeroMQ microservices.

    Run bare, zmqtui starts an embedded stack on loopback (a watcher on the current
    directory and a filer cluster serving it) and opens the monitor on it. Given an endpoint
    (--sub, --req, --stats, --control, --tap) the monitor starts nothing and attaches to it.
    """
