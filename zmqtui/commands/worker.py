"""`zmqtui worker --connect BACKEND --root DIR`: one filer worker joining a cluster's backend.

The cluster starts its local workers with this command; on another machine it joins a cluster
whose backend is bound on TCP (`zmqtui cluster --backend tcp://0.0.0.0:PORT --insecure`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from zmqtui.commands._run import config_option, load_command_settings, log_to_stderr
from zmqtui.config import HEARTBEAT_INTERVAL_MS, MAX_FILE_BYTES, ConfigError, check_endpoint
from zmqtui.services.probe import probe_broker
from zmqtui.services.sockets import EndpointError
from zmqtui.services.worker import (
    MAX_WORKER_ID_BYTES,
    WorkerConfig,
    heartbeat_endpoint_for,
    new_worker_id,
    run_worker,
)
from zmqtui.text import printable


def _worker_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not 0 < len(value.encode()) <= MAX_WORKER_ID_BYTES:
        raise click.BadParameter(f"must be 1 to {MAX_WORKER_ID_BYTES} bytes of UTF-8")
    return value


@click.command()
@click.option(
    "--connect",
    "backend",
    required=True,
    metavar="ENDPOINT",
    help="The cluster's backend, e.g. tcp://HOST:PORT.",
)
@click.option(
    "--root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory to serve files from (the same tree the cluster serves); required unless "
    "--check.",
)
@click.option(
    "--heartbeat",
    metavar="ENDPOINT",
    help="Where to send heartbeats [default: the backend's TCP port + 1, or its ipc path "
    "+ '.heartbeat'].",
)
@click.option(
    "--heartbeat-ms",
    type=click.IntRange(min=10),
    default=HEARTBEAT_INTERVAL_MS,
    show_default=True,
    help="Interval between heartbeats.",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=0),
    default=MAX_FILE_BYTES,
    show_default=True,
    help="Largest file served.",
)
@click.option(
    "--id",
    "worker_id",
    hidden=True,
    callback=_worker_id,
    help="Routing id (the supervisor picks one).",
)
@click.option("--slot", type=int, hidden=True, help="Slot index (set by the supervisor).")
@click.option(
    "--counters",
    type=click.Path(dir_okay=False, path_type=Path),
    hidden=True,
    help="Memory-mapped counter file the supervisor reads.",
)
@click.option(
    "--supervised",
    is_flag=True,
    hidden=True,
    help="Started by a cluster: exit when stdin closes, ignore SIGINT.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Only check that the broker's backend and heartbeat endpoints answer a handshake "
    "(CURVE included), then exit: 0 if they do, 1 if not (a readiness probe).",
)
@click.option(
    "--check-timeout-ms",
    type=click.IntRange(min=1),
    default=3000,
    show_default=True,
    help="How long --check waits for the handshakes.",
)
@config_option
def command(
    backend: str,
    root: Path | None,
    heartbeat: str | None,
    heartbeat_ms: int,
    max_bytes: int,
    worker_id: str | None,
    slot: int | None,
    counters: Path | None,
    supervised: bool,
    check: bool,
    check_timeout_ms: int,
    config_file: str | None,
) -> None:
    """Answer file requests from a cluster's backend until SIGINT, SIGTERM or a drain.

    Under systemd (`NOTIFY_SOCKET` set) it says READY=1 once it has joined the broker,
    WATCHDOG=1 while the broker answers, STOPPING=1 once it has answered what it held.
    """
    log_to_stderr("worker")
    if root is None and not check:
        raise click.UsageError("Missing option '--root'.")
    try:
        load_command_settings(config_file)  # the CURVE keys, if the settings name any
        check_endpoint(backend)
        heartbeat = check_endpoint(heartbeat or heartbeat_endpoint_for(backend))
        if check:
            failure = probe_broker(backend, heartbeat, check_timeout_ms / 1000)
            if failure is not None:
                click.echo(
                    f"zmqtui worker: cannot reach the broker: {printable(failure)}", err=True
                )
                sys.exit(1)
            click.echo(f"broker reachable at {backend}")
            return
        assert root is not None
        config = WorkerConfig(
            connect=backend,
            root=root,
            heartbeat=heartbeat,
            max_bytes=max_bytes,
            heartbeat_ms=heartbeat_ms,
            worker_id=worker_id or new_worker_id(),
            slot=slot,
            counters_path=counters,
        )
        if not supervised:
            click.echo(f"Worker {config.worker_id} serving {root} for {backend}", err=True)
        sys.exit(run_worker(config, supervised=supervised))
    except (ConfigError, EndpointError) as exc:
        click.echo(f"zmqtui worker: {exc}", err=True)
        sys.exit(2)
