"""Requests per second, per worker slot and cluster-wide, derived from successive snapshots.

Workers report only cumulative counters; rates come from the difference between two
snapshots over the supervisor's own clock (the snapshots' timestamps), so they do not
depend on when the monitor happened to receive them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from zmqtui.protocol import ClusterSnapshot

MIN_INTERVAL_MS = 900
"""Snapshots closer together than this (sent on a change) wait for a later one: short
intervals would make the rates jumpy and the history uneven."""


@dataclass(frozen=True, slots=True)
class _Baseline:
    supervisor: int
    timestamp: int
    counts: dict[int, tuple[int | None, int]]
    """slot -> (pid, requests)"""


class RateTracker:
    """Turns cumulative request counters into rates and a bounded history of cluster rates."""

    def __init__(self, history: int = 60) -> None:
        self._baseline: _Baseline | None = None
        self._rates: dict[int, float] = {}
        self._cluster_rate: float | None = None
        self.history: deque[float] = deque([0.0] * history, maxlen=history)
        """Cluster-wide requests/s, oldest first; zeros at first so a graph fills from the right."""

    def observe(self, snapshot: ClusterSnapshot) -> bool:
        """Take a snapshot into account; True if the rates were recomputed."""
        counts = {worker.slot: (worker.pid, worker.requests) for worker in snapshot.workers}
        current = _Baseline(snapshot.pid, snapshot.timestamp, counts)
        previous = self._baseline
        if previous is None or previous.supervisor != snapshot.pid:
            self._baseline = current
            self._rates = {}
            self._cluster_rate = None
            return False
        elapsed_ms = snapshot.timestamp - previous.timestamp
        if elapsed_ms < MIN_INTERVAL_MS:
            return False
        seconds = elapsed_ms / 1000
        rates: dict[int, float] = {}
        for slot, (pid, requests) in counts.items():
            before = previous.counts.get(slot)
            if before is None or before[0] != pid or requests < before[1]:
                continue  # a new process: its counter started somewhere inside the interval
            rates[slot] = (requests - before[1]) / seconds
        self._baseline = current
        self._rates = rates
        self._cluster_rate = sum(rates.values())
        self.history.append(self._cluster_rate)
        return True

    def rate(self, slot: int) -> float | None:
        """Requests/s of the process in `slot` over the last interval, if known."""
        return self._rates.get(slot)

    @property
    def cluster_rate(self) -> float | None:
        """Requests/s of all workers together over the last interval, if known."""
        return self._cluster_rate
