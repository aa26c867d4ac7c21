"""`zmqtui [PATH]`: the monitor, on an embedded stack or attached to services elsewhere.

Bare, it starts a watcher on PATH (default: the current directory) inside the monitor and a
filer cluster serving PATH as a child process, on the default loopback ports or on free ones
when those are taken; quitting stops both. Given any endpoint (as an option, in the config
file or in the environment) or `[[feeds]]` in the config, it starts nothing and attaches to
what it was given: the subscriber pane takes in every `--sub` and every `[[feeds]]`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from zmqtui import security
from zmqtui.collection import DEFAULT_DIR, default_collection_dir
from zmqtui.commands._run import (
    collection_options,
    config_option,
    insecure_option,
    load_command_settings,
    max_message_bytes_option,
)
from zmqtui.config import (
    DEFAULT_MAX_FEED_BYTES,
    ConfigError,
    FeedConfig,
    Settings,
    captures_dir,
    check_endpoint,
    load_settings,
)
from zmqtui.services.control import MAX_WORKERS
from zmqtui.text import printable

if TYPE_CHECKING:
    from textual.app import App

    from zmqtui.services.metrics import MetricsAddress

ENDPOINT_KEYS = ("pub", "req", "stats", "control")

EXIT_MALFORMED_RECORDING = 2
"""`--open` of a file that is not a readable recording (as click's usage errors)."""

QUIT_GRACE_S = 3.0
"""How long SIGTERM waits for the app to quit by itself before the process ends anyway."""


def attach_endpoints(
    cli: Mapping[str, str | None],
    config_file: str | None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The endpoints the user gave: on the command line, or set (not default) in the config
    file or environment. Non-empty means attach mode."""
    environ = os.environ if environ is None else environ
    configured = load_settings(config_file, environ)
    defaults = Settings()
    given = {
        key: getattr(configured, key)
        for key in ENDPOINT_KEYS
        if getattr(configured, key) != getattr(defaults, key)
    }
    given.update({key: value for key, value in cli.items() if value is not None})
    checked = defaults.merged(given)  # validates each endpoint
    return {key: getattr(checked, key) for key in given}


@click.command()
@click.argument(
    "path",
    required=False,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
@click.option(
    "--sub",
    metavar="ENDPOINT",
    multiple=True,
    help="Attach: subscribe to this publisher (repeatable: several feeds, merged in the "
    "subscriber pane; the first also feeds the publisher pane).",
)
@max_message_bytes_option(
    "Largest message each --sub feed accepts ([[feeds]] set their own); a bigger one is "
    "counted and reported, and the feed connected again."
)
@click.option(
    "--req",
    metavar="ENDPOINT",
    help="Attach: send requests here (the requests pane's endpoint unless another is typed).",
)
@click.option("--stats", metavar="ENDPOINT", help="Attach: read cluster stats from here.")
@click.option("--control", metavar="ENDPOINT", help="Attach: steer the cluster here.")
@click.option(
    "--tap",
    metavar="ENDPOINT",
    help="Attach: read request/reply pairs from a tap's --pairs endpoint (the v view).",
)
@click.option(
    "--with-tap",
    is_flag=True,
    help="The embedded stack puts a tap in front of its cluster: its conversations in the v view.",
)
@click.option(
    "--workers",
    metavar="N",
    type=click.IntRange(min=1, max=MAX_WORKERS),
    help="Worker processes of the embedded cluster [default: the cluster's, one per CPU].",
)
@click.option(
    "--recursive",
    "-r",
    is_flag=True,
    help="The embedded watcher also watches PATH's subdirectories.",
)
@click.option(
    "--metrics",
    metavar="[HOST:]PORT",
    help="Serve the feed's Prometheus metrics at http://HOST:PORT/metrics (HOST 127.0.0.1 "
    "unless given; beyond loopback only with --insecure).",
)
@click.option(
    "--open",
    "recording",
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Open a recording (zmqtui record, e in the subscriber pane) instead of live sockets: "
    "go to a time (g), step ([ ]), play (space) at a speed (< >).",
)
@collection_options(
    "Saved requests: a directory of TOML files, one a request [default: ./zmq-requests]."
)
@insecure_option
@config_option
def command(
    path: Path | None,
    sub: tuple[str, ...],
    max_message_bytes: int,
    req: str | None,
    stats: str | None,
    control: str | None,
    tap: str | None,
    with_tap: bool,
    workers: int | None,
    recursive: bool,
    metrics: str | None,
    recording: Path | None,
    collection: Path | None,
    environment: str | None,
    insecure: bool,
    config_file: str | None,
) -> None:
    """Open the monitor: publisher, subscriber, requests and workers panes, live.

    With no endpoint given it starts an embedded stack on loopback serving PATH (default: the
    current directory) and stops it on quit. With any of --sub, --req, --stats, --control, --tap
    (or the same settings in the config file or environment, or [[feeds]] in the config) it
    only attaches to those; the subscriber pane merges every --sub and [[feeds]]. With --open
    FILE it shows a recording and opens no socket.
    """
    if recording is not None:
        live = {
            "PATH": path,
            "--sub": sub,
            "--req": req,
            "--stats": stats,
            "--control": control,
            "--tap": tap,
            "--with-tap": with_tap,
            "--workers": workers,
            "--recursive": recursive,
            "--metrics": metrics,
        }
        given_live = ", ".join(
            name for name, value in live.items() if value not in (None, False, ())
        )
        if given_live:
            raise click.UsageError(f"--open shows a recording: not with {given_live}")
        try:
            settings = load_command_settings(config_file)
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from None
        sys.exit(_open(recording, settings))
    try:
        first = sub[0] if sub else None
        given = attach_endpoints(
            {"pub": first, "req": req, "stats": stats, "control": control}, config_file
        )
        if tap is not None:
            given["tap"] = check_endpoint(tap)
        settings = load_command_settings(config_file)
        feeds = monitored_feeds(given.get("pub"), sub[1:], settings, max_message_bytes)
        metrics_address = None if metrics is None else _metrics_address(metrics, insecure)
    except (ConfigError, OSError) as exc:
        raise click.UsageError(str(exc)) from None
    if feeds:
        given.setdefault("pub", feeds[0].endpoint)
    if given and (workers is not None or recursive or with_tap):
        raise click.UsageError(
            "--workers, --recursive and --with-tap apply to the embedded stack, not to attach mode"
        )
    requests = Requests(collection or default_collection_dir() or Path(DEFAULT_DIR), environment)
    if given:
        sys.exit(_attach(given, feeds, path, settings, metrics_address, requests))
    config = Path(config_file) if config_file else None
    sys.exit(
        _embedded(
            path or Path(os.curdir),
            workers,
            recursive,
            settings,
            config,
            metrics_address,
            requests,
            with_tap,
        )
    )


def monitored_feeds(
    pub: str | None,
    more: Sequence[str],
    settings: Settings,
    max_message_bytes: int = DEFAULT_MAX_FEED_BYTES,
) -> tuple[FeedConfig, ...]:
    """The feeds the subscriber pane takes in: the `pub` endpoint and each further `--sub`
    (named after their endpoints, accepting messages up to `max_message_bytes`), then the
    config's `[[feeds]]`, each with the `[decoders]` table under its own; a feed's CURVE keys
    are checked now (`ConfigError`, `OSError`)."""
    endpoints = [check_endpoint(e) for e in more]
    if pub is not None:
        endpoints.insert(0, pub)
    chosen: dict[str, FeedConfig] = {}  # a name given twice: the first one
    subs = [FeedConfig(e, e, max_message_bytes=max_message_bytes) for e in endpoints]
    for feed in subs + list(settings.feeds):
        chosen.setdefault(feed.name, replace(feed, decoders=settings.decoders_for(feed)))
    for feed in chosen.values():
        security.curve_for_feed(feed)
    return tuple(chosen.values())


@dataclass(frozen=True, slots=True)
class Requests:
    """Where the requests pane saves and finds requests, and the environment it starts on."""

    collection_dir: Path
    environment: str | None


def _metrics_address(text: str, insecure: bool) -> MetricsAddress:
    from zmqtui.services.metrics import MetricsAddress  # prometheus_client: only when asked

    address = MetricsAddress.parse(text)
    address.check(insecure)
    return address


def _attach(
    given: dict[str, str],
    feeds: Sequence[FeedConfig],
    path: Path | None,
    settings: Settings,
    metrics: MetricsAddress | None,
    requests: Requests,
) -> int:
    from zmqtui.tui.app import ZmqtuiApp
    from zmqtui.tui.backend import Endpoints
    from zmqtui.tui.bridge import ZmqBridge

    bridge = ZmqBridge(
        Endpoints(**given),
        timeout_ms=settings.timeout_ms,
        tries=settings.tries,
        metrics=metrics,
        decoders=settings.decoders,
        feeds=feeds,
    )
    app = ZmqtuiApp(
        bridge,
        completion_root=path,
        export_dir=export_dir(settings),
        record_compressed=settings.record_compress,
        collection_dir=requests.collection_dir,
        environment=requests.environment,
        standalone=True,
    )
    return run_until_signalled(app, cleanup=bridge.abandon)


def _embedded(
    path: Path,
    workers: int | None,
    recursive: bool,
    settings: Settings,
    config_file: Path | None,
    metrics: MetricsAddress | None,
    requests: Requests,
    with_tap: bool = False,
) -> int:
    """Events name files as `zmqtui watch PATH` does (under PATH as typed); the cluster serves
    PATH resolved. With a tap, the tap listens where requests go and the cluster binds a free
    port behind it."""
    from zmqtui.services.stack import (
        ClusterEndpoints,
        EmbeddedCluster,
        EmbeddedStack,
        EmbeddedTap,
        free_endpoint,
        pick_endpoint,
    )
    from zmqtui.tui.app import ZmqtuiApp
    from zmqtui.tui.backend import Endpoints
    from zmqtui.tui.bridge import ZmqBridge

    chosen: dict[str, str] = {}
    notices = []
    for key in ENDPOINT_KEYS:
        preferred = getattr(settings, key)
        chosen[key] = pick_endpoint(preferred, taken=set(chosen.values()))
        if chosen[key] != preferred:
            notices.append(f"{preferred} is taken: {key} uses {chosen[key]}")
    root = path.resolve()
    tap = None
    cluster_req = chosen["req"]
    if with_tap:
        cluster_req = free_endpoint()
        tap = EmbeddedTap(chosen["req"], cluster_req, free_endpoint())
    cluster = EmbeddedCluster(
        root,
        ClusterEndpoints(cluster_req, chosen["stats"], chosen["control"]),
        workers=workers,
        config_file=config_file,
    )
    stack = EmbeddedStack(path, chosen["pub"], cluster, recursive=recursive, tap=tap)
    bridge = ZmqBridge(
        Endpoints(**chosen, tap=None if tap is None else tap.pairs),
        stack=stack,
        timeout_ms=settings.timeout_ms,
        tries=settings.tries,
        metrics=metrics,
        decoders=settings.decoders,
    )
    try:  # the bridge has the cluster started once the first frame is on screen
        app = ZmqtuiApp(
            bridge,
            completion_root=root,
            export_dir=export_dir(settings),
            record_compressed=settings.record_compress,
            notices=notices,
            collection_dir=requests.collection_dir,
            environment=requests.environment,
            standalone=True,
        )
        return run_until_signalled(app, cleanup=lambda: (bridge.abandon(), stack.stop()))
    finally:
        stack.stop()


def _open(recording: Path, settings: Settings) -> int:
    """Check the whole recording first: a malformed one is told here (exit 2), not on screen."""
    from zmqtui.recording import RecordingError
    from zmqtui.services.playback import index_recording

    try:
        index = index_recording(recording)
    except RecordingError as exc:
        click.echo(f"zmqtui: cannot open {printable(str(exc))}", err=True)
        return EXIT_MALFORMED_RECORDING

    from zmqtui.tui.playback import PlaybackApp
    from zmqtui.tui.playback_bridge import PlaybackBridge

    bridge = PlaybackBridge(recording, index, decoders=settings.decoders)
    app = PlaybackApp(bridge, export_dir=export_dir(settings), standalone=True)
    return run_until_signalled(app, cleanup=bridge.abandon)


def export_dir(settings: Settings) -> Path:
    """Where `e` exports and `ctrl+r` records: the `export_dir` setting, else the user's data
    directory."""
    return Path(settings.export_dir) if settings.export_dir else captures_dir()


def run_until_signalled(app: App[None], cleanup: Callable[[], None] = lambda: None) -> int:
    """Run the app, then `cleanup`; SIGTERM quits as `q` does, SIGHUP (terminal closed) at once.
    Returns the exit status: 0, or 1 when the app ended on an unhandled exception.

    With its terminal gone Textual can block forever writing to it, so a hangup, or a SIGTERM
    that has not ended the app within `QUIT_GRACE_S`, runs `cleanup` (stopping what the
    monitor started) and ends the process without waiting for the screen.
    """

    def abandon(signum: int) -> None:
        try:
            cleanup()
        finally:
            os._exit(128 + signum)

    def hangup(signum: int, _frame: object) -> None:
        abandon(signum)

    def terminate(signum: int, _frame: object) -> None:
        deadline = threading.Timer(QUIT_GRACE_S, abandon, (signum,))
        deadline.daemon = True
        deadlines.append(deadline)
        deadline.start()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not running yet, or no longer: nothing to quit gracefully
            abandon(signum)
        else:
            loop.call_soon_threadsafe(app.exit)

    deadlines: list[threading.Timer] = []
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGHUP, signal.SIGTERM)}
    signal.signal(signal.SIGHUP, hangup)
    signal.signal(signal.SIGTERM, terminate)
    try:
        app.run()
    finally:
        for deadline in deadlines:
            deadline.cancel()
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)  # the clean-up must not be cut short
        try:
            cleanup()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    return app.return_code or 0
