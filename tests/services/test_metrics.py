"""`/metrics` of a running cluster: the stats stream's counts, a latency histogram, the broker."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
import zmq.asyncio
from click.testing import CliRunner
from clusters import Snapshots, StartCluster, all_ready
from prometheus_client.parser import text_string_to_metric_families

from zmqtui.commands.cluster import command as cluster_command
from zmqtui.config import ConfigError
from zmqtui.services.metrics import MetricsAddress
from zmqtui.services.requester import run_load


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """Every sample by name, keyed by its sorted labels."""
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def by_worker(samples: dict[tuple, float]) -> dict[int, float]:
    return {int(dict(labels)["worker"]): value for labels, value in samples.items()}


@pytest.mark.integration
async def test_metrics_match_the_stats_stream_during_a_load_run(
    start_cluster: StartCluster,
    actx: zmq.asyncio.Context,
):
    cluster = await start_cluster(metrics=MetricsAddress("127.0.0.1", 0))
    url = cluster.endpoints["metrics"]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    snapshots = Snapshots(actx, cluster.endpoints["stats"])
    try:
        await all_ready(cluster, 2)
        load = asyncio.create_task(
            run_load(actx, cluster.endpoints["frontend"], "target.txt", 200, 4, timeout_ms=10_000)
        )
        during = await asyncio.to_thread(scrape, url)  # answers while the load runs
        assert "zmqtui_worker_requests_total" in during
        summary = await load
        assert summary.replies == 200

        snap = await snapshots.wait(lambda s: sum(w.requests for w in s.workers) == 200)
        samples = await asyncio.to_thread(scrape, url)
        stats = {w.slot: w.requests for w in snap.workers}
        assert by_worker(samples["zmqtui_worker_requests_total"]) == stats
        counts = by_worker(samples["zmqtui_request_duration_seconds_count"])
        assert counts == stats and sum(counts.values()) == summary.replies
        infinite = {
            labels: value
            for labels, value in samples["zmqtui_request_duration_seconds_bucket"].items()
            if dict(labels)["le"] == "+Inf"
        }
        assert sum(infinite.values()) == 200
        assert sum(samples["zmqtui_request_duration_seconds_sum"].values()) > 0
        assert by_worker(samples["zmqtui_worker_errors_total"]) == {w.slot: 0 for w in snap.workers}
        ready = samples["zmqtui_workers"]
        assert ready[(("state", "ready"),)] + ready[(("state", "busy"),)] == 2
        assert ready[(("state", "errored"),)] == 0
        for gauge in ("queued", "idle_workers", "held"):
            assert next(iter(samples[f"zmqtui_broker_{gauge}"].values())) >= 0
        pids = {dict(labels)["pid"] for labels in samples["zmqtui_worker_info"]}
        assert pids == {str(w.pid) for w in snap.workers}
    finally:
        snapshots.close()


def test_metrics_address_defaults_to_loopback():
    assert MetricsAddress.parse("9464") == MetricsAddress("127.0.0.1", 9464)
    assert MetricsAddress.parse("[::1]:9464").loopback
    assert not MetricsAddress.parse("0.0.0.0:9464").loopback
    with pytest.raises(ConfigError):
        MetricsAddress.parse("localhost:http")


def test_cluster_refuses_metrics_beyond_loopback_unless_insecure(tmp_path):
    result = CliRunner().invoke(
        cluster_command, ["--root", str(tmp_path), "--workers", "0", "--metrics", "0.0.0.0:9"]
    )
    assert result.exit_code == 2 and "refusing to serve metrics on 0.0.0.0" in result.output
