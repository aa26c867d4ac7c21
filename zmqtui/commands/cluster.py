"""`zmqtui cluster --root DIR`: the filer cluster, like the book's zmq-filer-rep-cluster.js."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from zmqtui.commands._run import (
    config_option,
    insecure_option,
    load_command_settings,
    log_to_stderr,
    run_service,
)
from zmqtui.config import (
    HEARTBEAT_INTERVAL_MS,
    HEARTBEAT_LIVENESS,
    MAX_FILE_BYTES,
    check_endpoint,
)
from zmqtui.services.broker import DEFAULT_ROUTING, ROUTING_MODES
from zmqtui.services.budget import map_large_allocations
from zmqtui.services.cluster import STATS_INTERVAL_MS, Cluster, ClusterConfig, default_worker_count
from zmqtui.services.metrics import MetricsAddress
from zmqtui.services.supervisor import RestartPolicy, Timings

_POLICY = RestartPolicy()
_TIMINGS = Timings()


def _ms(name: str, default: float | int, help_text: str, minimum: int = 1):
    return click.option(
        name,
        type=click.IntRange(min=minimum),
        default=int(default),
        show_default=True,
        help=help_text,
    )


@click.command()
@click.option(
    "--root",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Directory to serve files from.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0, max=256),
    default=default_worker_count(),
    show_default="one per CPU",
    help="Local worker processes.",
)
@click.option(
    "--bind",
    "frontend",
    metavar="ENDPOINT",
    help="Where clients connect (ROUTER) [default: the `req` setting, tcp://127.0.0.1:60401].",
)
@click.option(
    "--stats",
    metavar="ENDPOINT",
    help="Where stats snapshots are published [default: the `stats` setting, "
    "tcp://127.0.0.1:60402].",
)
@click.option(
    "--control",
    metavar="ENDPOINT",
    help="Where `zmqtui ctl` sends commands [default: the `control` setting, "
    "tcp://127.0.0.1:60403].",
)
@click.option(
    "--backend",
    metavar="ENDPOINT",
    help="Where workers connect [default: ipc:// in a private runtime directory]. Bind it on "
    "TCP for workers on other machines.",
)
@click.option(
    "--heartbeat",
    metavar="ENDPOINT",
    help="Where workers send heartbeats [default: the backend's TCP port + 1, or its ipc path "
    "+ '.heartbeat'].",
)
@click.option(
    "--routing",
    type=click.Choice(ROUTING_MODES),
    default=DEFAULT_ROUTING,
    show_default=True,
    help="lb: the zguide load-balancing broker with credit (idle workers first, quick ones take "
    "up to 16 requests, a slow or stalled one takes one at a time; a dead one's requests are "
    "re-queued); rr: the book's round-robin DEALER, forwarded by libzmq's proxy (each worker "
    "gets its turn, a slow one too).",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=0),
    default=MAX_FILE_BYTES,
    show_default=True,
    help="Largest file served.",
)
@_ms("--heartbeat-ms", HEARTBEAT_INTERVAL_MS, "Interval between a worker's heartbeats.", 10)
@_ms("--liveness", HEARTBEAT_LIVENESS, "Missed heartbeats before a worker is stale and killed.")
@_ms(
    "--start-timeout-ms",
    _TIMINGS.start_timeout_ms,
    "Time a new worker has to send its first heartbeat.",
)
@_ms("--grace-ms", _TIMINGS.grace_ms, "Time a stopping worker gets between SIGTERM and SIGKILL.", 0)
@_ms(
    "--restart-delay-ms",
    _POLICY.delay * 1000,
    "First restart delay after a crash; doubles with each crash.",
    0,
)
@_ms("--restart-delay-max-ms", _POLICY.max_delay * 1000, "Longest restart delay.", 0)
@_ms("--stable-after-ms", _POLICY.stable_after * 1000, "Uptime that resets the restart delay.")
@_ms("--min-uptime-ms", _POLICY.min_uptime * 1000, "A worker dying sooner was unstable.", 0)
@_ms(
    "--max-unstable",
    _POLICY.max_unstable,
    "Unstable workers in a row before a slot is errored and no longer restarted.",
)
@_ms(
    "--stats-interval-ms",
    STATS_INTERVAL_MS,
    "Interval between stats snapshots (more are sent on every change).",
    10,
)
@click.option(
    "--owner-pid",
    type=click.IntRange(min=1),
    metavar="PID",
    help="Stop (workers included) when process PID ends; the monitor names itself, so a "
    "monitor killed outright leaves no cluster behind.",
)
@click.option(
    "--metrics",
    metavar="[HOST:]PORT",
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (HOST 127.0.0.1 unless given; "
    "beyond loopback only with --insecure).",
)
@insecure_option
@config_option
def command(
    root: Path,
    workers: int,
    frontend: str | None,
    stats: str | None,
    control: str | None,
    backend: str | None,
    heartbeat: str | None,
    routing: str,
    max_bytes: int,
    heartbeat_ms: int,
    liveness: int,
    start_timeout_ms: int,
    grace_ms: int,
    restart_delay_ms: int,
    restart_delay_max_ms: int,
    stable_after_ms: int,
    min_uptime_ms: int,
    max_unstable: int,
    stats_interval_ms: int,
    owner_pid: int | None,
    metrics: str | None,
    insecure: bool,
    config_file: str | None,
) -> None:
    """Run a ROUTER in front of worker processes that serve files, restarting them as needed.

    Prints `Cluster listening for zmq requesters on ENDPOINT` once everything is bound. Stop it
    with SIGINT/SIGTERM or `zmqtui ctl stop`.
    """
    log_to_stderr("cluster", logging.INFO)
    map_large_allocations()

    async def main() -> None:
        settings = load_command_settings(config_file, req=frontend, stats=stats, control=control)
        for endpoint in (backend, heartbeat):
            if endpoint is not None:
                check_endpoint(endpoint)
        metrics_address = None if metrics is None else MetricsAddress.parse(metrics)
        if metrics_address is not None:
            metrics_address.check(insecure)
        config = ClusterConfig(
            root=root,
            workers=workers,
            frontend=settings.req,
            stats=settings.stats,
            control=settings.control,
            backend=backend,
            heartbeat=heartbeat,
            routing=routing,
            max_bytes=max_bytes,
            public=insecure,
            timings=Timings(
                heartbeat_ms=heartbeat_ms,
                liveness=liveness,
                start_timeout_ms=start_timeout_ms,
                grace_ms=grace_ms,
                restart=RestartPolicy(
                    delay=restart_delay_ms / 1000,
                    max_delay=restart_delay_max_ms / 1000,
                    stable_after=stable_after_ms / 1000,
                    min_uptime=min_uptime_ms / 1000,
                    max_unstable=max_unstable,
                ),
            ),
            stats_interval_ms=stats_interval_ms,
            metrics=metrics_address,
            config_file=Path(config_file) if config_file else None,
            owner_pid=owner_pid,
        )
        await Cluster(config).run(on_bound=_announce)

    run_service(main())


def _announce(cluster: Cluster) -> None:
    ends = cluster.endpoints
    click.echo(f"Cluster listening for zmq requesters on {ends['frontend']}")
    click.echo(
        f"{cluster.config.workers} {cluster.config.routing} workers on {ends['backend']}; "
        f"stats on {ends['stats']}; control on {ends['control']}"
    )
    if "metrics" in ends:
        click.echo(f"Prometheus metrics on {ends['metrics']}")
