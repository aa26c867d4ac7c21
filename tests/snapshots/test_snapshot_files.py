"""Every snapshot file belongs to a snapshot test (a renamed or removed test leaves none)."""

from __future__ import annotations

import pytest
from snapshot_names import COLLECTED


def test_every_snapshot_file_has_its_test(pytestconfig: pytest.Config) -> None:
    collected = pytestconfig.stash.get(COLLECTED, {})
    for module, names in collected.items():
        files = (module.parent / "__snapshots__" / module.stem).glob("*.svg")
        unused = sorted(path.name for path in files if path.stem not in names)
        assert not unused, f"no test in {module.name} compares {unused}: remove them"
