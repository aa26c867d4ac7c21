"""The knobs every benchmark reads, set from `python -m benchmarks` options."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import scratch_dir


@dataclass(frozen=True, slots=True)
class Options:
    quick: bool = False
    """Tiny sizes: proves every benchmark still runs, measures nothing worth keeping."""
    runs: int = 5
    duration: float = 1.0
    """Seconds in each measured window."""
    warmup: float = 0.3
    """Seconds of load before each measured window."""
    clients: int = 1
    """Load generator processes."""

    @classmethod
    def make(cls, *, quick: bool, runs: int | None, clients: int) -> Options:
        if quick:
            return cls(True, runs or 1, 0.15, 0.1, clients)
        return cls(False, runs or 5, 1.0, 0.3, clients)

    def scratch(self) -> AbstractContextManager[Path]:
        return scratch_dir()
