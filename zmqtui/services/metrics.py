"""The cluster's figures for Prometheus: `/metrics` over HTTP, from the same counts as its stats.

The cluster hands each stats snapshot (and the counters it was made from) to `ClusterMetrics`;
a scrape reads the latest one, so `/metrics` and the stats stream agree. Served by
prometheus_client's own HTTP server in a thread of its own, on loopback unless asked otherwise.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from zmqtui.config import ConfigError
from zmqtui.protocol import ClusterSnapshot
from zmqtui.services.sockets import EndpointError
from zmqtui.services.worker import LATENCY_BOUNDS, Counters

WORKER_STATES = ("starting", "ready", "busy", "stale", "dead", "errored")
BROKER_GAUGES = {
    "queued": "Requests waiting in the broker for a worker with room.",
    "idle_workers": "Workers holding no request.",
    "held": "Requests sent to workers and not answered yet.",
}
"""The lb broker's gauges (rr has none)."""
BROKER_COUNTERS = {
    "requests_requeued": "Requests re-queued once after their worker died.",
    "unanswered": "Requests given up on (a second worker lost, or lost on the way).",
    "replies_dropped_unread": "Large replies dropped: their client had 16 MiB of replies unread.",
}


@dataclass(frozen=True, slots=True)
class MetricsAddress:
    """Where `/metrics` is served."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> MetricsAddress:
        """`PORT`, `HOST:PORT` or `[V6]:PORT`; the host defaults to 127.0.0.1."""
        host, _, port = text.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ConfigError(f"--metrics wants [HOST:]PORT, got {text!r}")
        return cls(host, int(port))

    def check(self, insecure: bool) -> None:
        """ConfigError for an address beyond loopback, unless `insecure` (`--insecure`)."""
        if not self.loopback and not insecure:
            raise ConfigError(
                f"refusing to serve metrics on {self.host}: not a loopback address "
                "(pass --insecure to expose them, unauthenticated)"
            )

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class ClusterMetrics(Collector):
    """Prometheus families built at each scrape from the latest snapshot handed in."""

    def __init__(self) -> None:
        self._latest: tuple[ClusterSnapshot, Mapping[int, Counters]] | None = None

    def update(self, snapshot: ClusterSnapshot, counters: Mapping[int, Counters]) -> None:
        """The newest snapshot (requests, errors and the rest come from it, as in the stats
        stream) and each slot's counters (by slot index), for the latency histogram."""
        self._latest = (snapshot, counters)  # one reference swap: safe for the HTTP thread

    def collect(self) -> Iterator[Metric]:
        latest = self._latest
        if latest is None:
            return
        snapshot, counters = latest
        yield from self._workers(snapshot, counters)
        yield from self._broker(snapshot.broker)

    def _workers(
        self, snapshot: ClusterSnapshot, counters: Mapping[int, Counters]
    ) -> Iterator[Metric]:
        labels = ["worker"]
        requests = CounterMetricFamily(
            "zmqtui_worker_requests", "Requests a worker answered.", labels=labels
        )
        errors = CounterMetricFamily(
            "zmqtui_worker_errors", "Requests a worker answered with an error reply.", labels=labels
        )
        restarts = CounterMetricFamily(
            "zmqtui_worker_restarts", "Times a worker slot's process was replaced.", labels=labels
        )
        crashes = CounterMetricFamily(
            "zmqtui_worker_crashes", "Deaths of a slot's process nobody asked for.", labels=labels
        )
        info = GaugeMetricFamily(
            "zmqtui_worker_info",
            "A worker slot's process: pid, host (remote workers), state.",
            labels=["worker", "pid", "host", "remote", "state"],
        )
        latency = HistogramMetricFamily(
            "zmqtui_request_duration_seconds",
            "Time a worker took to answer a request, as the worker measured it.",
            labels=labels,
        )
        states = Counter(worker.state for worker in snapshot.workers)
        for worker in snapshot.workers:
            slot = [str(worker.slot)]
            counts = counters.get(worker.slot, Counters())
            requests.add_metric(slot, worker.requests)
            errors.add_metric(slot, worker.errors)
            restarts.add_metric(slot, worker.restarts)
            crashes.add_metric(slot, worker.crashes)
            info.add_metric(
                [
                    *slot,
                    "" if worker.pid is None else str(worker.pid),
                    worker.host or "",
                    str(worker.remote).lower(),
                    worker.state,
                ],
                1,
            )
            latency.add_metric(slot, _cumulative(counts.latency_buckets), counts.busy_seconds)
        by_state = GaugeMetricFamily("zmqtui_workers", "Worker slots by state.", labels=["state"])
        for state in sorted({*WORKER_STATES, *states}):
            by_state.add_metric([state], states.get(state, 0))
        yield from (requests, errors, restarts, crashes, latency, info, by_state)

    @staticmethod
    def _broker(broker: Mapping[str, int]) -> Iterator[Metric]:
        for name, text in BROKER_GAUGES.items():
            if name in broker:
                yield GaugeMetricFamily(f"zmqtui_broker_{name}", text, value=broker[name])
        for name, text in BROKER_COUNTERS.items():
            if name in broker:
                yield CounterMetricFamily(f"zmqtui_broker_{name}", text, value=broker[name])


def _cumulative(buckets: list[int]) -> list[tuple[str, float]]:
    """Prometheus' `le` buckets (each counts everything up to its bound) from plain counts."""
    total = 0
    out = []
    for bound, count in zip([*map(str, LATENCY_BOUNDS), "+Inf"], buckets, strict=True):
        total += count
        out.append((bound, total))
    return out


class MetricsServer:
    """`/metrics` for one collector (the cluster's, a feed's), on its own registry and HTTP
    thread."""

    def __init__(self, address: MetricsAddress, metrics: Collector) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(metrics)
        try:
            self._server, self._thread = start_http_server(
                address.port, addr=address.host, registry=registry
            )
        except OSError as exc:
            raise EndpointError(
                f"cannot serve metrics on {address.host}:{address.port}: {exc.strerror}"
            ) from None
        host, port = self._server.server_address[:2]
        self.url = f"http://{_bracketed(host)}:{port}/metrics"

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
