"""The snapshot tests a run collected, kept by `conftest.py` for `test_snapshot_files.py`:
syrupy fails a serial run that leaves a snapshot file unused, but skips that under xdist."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

COLLECTED = pytest.StashKey[dict[Path, set[str]]]()
"""The snapshot tests' names (`test_x[80x24]`) of each module collected whole, by its path."""


def snapshot_tests_in(path: Path) -> set[str]:
    """The test functions of the module at `path` that take `snap_compare`, from its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
        and any(arg.arg == "snap_compare" for arg in node.args.args)
    }
