"""`zmqtui request PATH`: ask a filer for a file, like the book's zmq-filer-req.js.

Exit codes: 0 every request got a file; 1 an error reply (or an answer that is not a reply);
2 bad usage, settings or endpoint; 3 no answer after every try (unavailable); 4 no answer
because the handshake failed (the server refused our CURVE key, a security mismatch).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import click
import zmq.asyncio

from zmqtui.commands._run import config_option, load_command_settings, run_service
from zmqtui.format import date_time, plural
from zmqtui.protocol import ErrorReply, FileReply
from zmqtui.results import LoadFigures
from zmqtui.services.requester import (
    MAX_REPLY_BYTES,
    LoadSummary,
    Requester,
    RequestResult,
    run_load,
)
from zmqtui.text import MULTI_LINE, printable, printable_json

EXIT_OK = 0
EXIT_ERROR_REPLY = 1
EXIT_UNAVAILABLE = 3
EXIT_HANDSHAKE_FAILED = 4


def reply_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """How long to wait for a reply, how often to try, the largest reply taken, and --json:
    the options of every command that asks and waits (`request`, `send`)."""
    options = [
        click.option(
            "--timeout",
            "--timeout-ms",
            "timeout_ms",
            type=click.IntRange(min=1),
            metavar="MS",
            help="Wait this long for a reply before retrying"
            " [default: `timeout_ms` setting, 2500].",
        ),
        click.option(
            "--tries",
            type=click.IntRange(min=1),
            help="Give up after this many tries [default: the `tries` setting, 3].",
        ),
        click.option(
            "--max-reply-bytes",
            type=click.IntRange(min=1),
            default=MAX_REPLY_BYTES,
            show_default=True,
            help="Largest reply accepted; a bigger one is dropped and counts as no answer.",
        ),
        click.option(
            "--json", "as_json", is_flag=True, help="Print the reply (or summary) as JSON."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_options(
    what: str, concurrency_help: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--count and --concurrency: how many `what` to send and how many in flight."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        command = click.option(
            "--concurrency",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help=concurrency_help,
        )(command)
        return click.option(
            "--count",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            help=f"{what} to send; more than one prints a summary instead of the reply.",
        )(command)

    return decorate


@dataclass(frozen=True, slots=True)
class Asking:
    """How a command that asks and waits (`request`, `send`) runs, as its options say."""

    count: int
    concurrency: int
    timeout_ms: int | None
    """None: the `timeout_ms` setting."""
    tries: int | None
    """None: the `tries` setting."""
    max_reply_bytes: int
    as_json: bool
    config_file: str | None


def asking_options(
    what: str, concurrency_help: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--count, --concurrency (how many `what` and how many in flight), the reply options and
    --config, handed to the command as one `asking: Asking` argument."""
    names = [field.name for field in fields(Asking)]

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def gathered(**options: Any) -> Any:
            asking = Asking(**{name: options.pop(name) for name in names})
            return command(asking=asking, **options)

        return load_options(what, concurrency_help)(reply_options(config_option(gathered)))

    return decorate


@click.command()
@click.argument("path")
@click.option(
    "--connect",
    "endpoint",
    metavar="ENDPOINT",
    help="The filer or cluster to ask [default: the `req` setting, tcp://127.0.0.1:60401].",
)
@asking_options("Requests", "Requests in flight at once, each on its own socket.")
def command(path: str, endpoint: str | None, asking: Asking) -> None:
    """Request PATH from a filer and print the reply.

    With --count N, send N requests with --concurrency C in flight and print a summary:
    replies per pid, errors by code, rate and latency percentiles. A request with no reply
    within --timeout is sent again on a fresh socket, up to --tries times.

    \b
    Exit status:
      0  every request got the file
      1  an error reply, or an answer that is not a reply
      2  bad usage, settings or endpoint
      3  no answer after every try (unavailable)
      4  no answer: the handshake failed (CURVE key refused, security mismatch)
    """
    run_service(_request(path, endpoint, asking))


async def _request(path: str, endpoint: str | None, asking: Asking) -> int:
    settings = load_command_settings(
        asking.config_file, req=endpoint, timeout_ms=asking.timeout_ms, tries=asking.tries
    )
    as_json, max_reply_bytes = asking.as_json, asking.max_reply_bytes
    ctx = zmq.asyncio.Context()
    try:
        if asking.count > 1:
            summary = await run_load(
                ctx,
                settings.req,
                path,
                asking.count,
                asking.concurrency,
                timeout_ms=settings.timeout_ms,
                tries=settings.tries,
                max_reply_bytes=max_reply_bytes,
            )
            click.echo(printable_json(summary.to_wire()) if as_json else format_summary(summary))
            return summary_exit_code(summary)
        if not as_json:
            click.echo(f"Sending a request for {printable(path)}")
        async with Requester(
            ctx,
            settings.req,
            timeout_ms=settings.timeout_ms,
            tries=settings.tries,
            max_reply_bytes=max_reply_bytes,
        ) as requester:
            result = await requester.request(path)
        return report(result, settings.req, settings.timeout_ms, as_json)
    finally:
        ctx.destroy(linger=0)


def report(result: RequestResult, endpoint: str, timeout_ms: int, as_json: bool) -> int:
    """Print one request's outcome; return the exit code."""
    if result.outcome == "unavailable" and result.handshake_failure:
        click.echo(f"zmqtui: cannot talk to {endpoint}: {result.handshake_failure}", err=True)
        return EXIT_HANDSHAKE_FAILED
    if result.outcome == "unavailable":
        click.echo(
            f"zmqtui: no reply from {endpoint} after {result.tries} tries of {timeout_ms} ms; "
            "is a filer running there?",
            err=True,
        )
        return EXIT_UNAVAILABLE
    if result.outcome == "malformed":
        click.echo(f"zmqtui: {endpoint} answered with a {printable(str(result.error))}", err=True)
        return EXIT_ERROR_REPLY
    reply = result.reply
    if as_json:
        assert result.raw is not None
        click.echo(printable_json(json.loads(result.raw)))
    elif isinstance(reply, FileReply):
        click.echo(
            f"Received response from pid {reply.pid} at {date_time(reply.timestamp)}"
            f" ({result.latency_ms:.1f} ms, {plural(result.tries, 'try', 'tries')})"
        )
        content = printable(reply.content, keep=MULTI_LINE)
        click.echo(content, nl=not content.endswith("\n"))
    if isinstance(reply, ErrorReply):
        if not as_json:
            click.echo(
                f"Received error {printable(reply.code)} from pid {reply.pid}: "
                f"{printable(reply.message)}",
                err=True,
            )
        return EXIT_ERROR_REPLY
    return EXIT_OK


def format_summary(summary: LoadSummary) -> str:
    """The load summary as aligned `label: value` lines."""
    head = (
        f"Sent {summary.sent} of {summary.count} requests for {printable(summary.path)}"
        f" to {summary.endpoint}, {summary.concurrency} in flight"
    )
    return format_load(head, summary, file_replies=summary.replies, malformed=summary.malformed)


def format_load(
    head: str,
    figures: LoadFigures,
    *,
    file_replies: int | None = None,
    malformed: int | None = None,
) -> str:
    """`head`, then a load run's figures as aligned `label: value` lines (the counts only
    some requests have, where given)."""
    by_pid = ", ".join(f"{pid}: {n}" for pid, n in sorted(figures.replies_by_pid.items()))
    errors = ", ".join(
        f"{printable(code)} {n}" for code, n in sorted(figures.errors_by_code.items())
    )
    latency = "  ".join(
        f"{name} {'-' if value is None else f'{value:.2f}'}"
        for name, value in figures.latency.items()
    )
    why = f": {figures.handshake_failure}" if figures.handshake_failure else ""
    answered = f"{figures.answered} in {figures.elapsed_s:.2f} s ({figures.rate:.1f} req/s)"
    rows: list[tuple[str, object]] = [("Answered", answered)]
    if file_replies is not None:
        rows.append(("File replies", file_replies))
    rows += [("Replies by pid", by_pid or "none"), ("Errors", errors or "none")]
    if malformed is not None:
        rows.append(("Malformed", malformed))
    rows += [
        ("Unavailable", f"{figures.unavailable} (not sent: {figures.not_sent}){why}"),
        ("Retries", f"{figures.retries} (stale replies discarded: {figures.discarded})"),
        ("Latency (ms)", latency),
    ]
    return "\n".join([head, *(f"{label + ':':<16}{value}" for label, value in rows)])


def summary_exit_code(summary: LoadSummary) -> int:
    return load_exit_code(summary, malformed=summary.malformed)


def load_exit_code(figures: LoadFigures, *, malformed: int = 0) -> int:
    """The exit status a load run ends with: the worst of what its requests met."""
    if figures.unavailable and figures.handshake_failure:
        return EXIT_HANDSHAKE_FAILED
    if figures.unavailable:
        return EXIT_UNAVAILABLE
    if figures.errors_by_code or malformed:
        return EXIT_ERROR_REPLY
    return EXIT_OK
