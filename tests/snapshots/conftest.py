"""Keeps the names of the snapshot tests collected (see `snapshot_names.py`)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from snapshot_names import COLLECTED, snapshot_tests_in


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Before `-k` or `-m` leave any out; a module narrowed by node id to some of its snapshot
    tests is left out, since its other files are not unused."""
    names: dict[Path, set[str]] = defaultdict(set)
    functions: dict[Path, set[str]] = defaultdict(set)
    for item in items:
        if isinstance(item, pytest.Function) and "snap_compare" in item.fixturenames:
            names[item.path].add(item.name)
            functions[item.path].add(item.originalname)
    config.stash[COLLECTED] = {
        path: names[path]
        for path, collected in functions.items()
        if collected == snapshot_tests_in(path)
    }
