"""The headless side never imports Textual or Rich.

Each module is imported in a fresh interpreter and its `sys.modules` inspected, so a module
that pulls the TUI in through some other import is caught too. Modules are found by globbing,
so services and commands added later are covered without touching this file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import zmqtui

PACKAGE = Path(zmqtui.__file__).parent
TUI_PACKAGES = ("textual", "rich")
TUI_COMMANDS = {"monitor"}
"""Commands that run the terminal UI and may import it."""

PROBE = f"""
import importlib, json, sys
error = None
try:
    importlib.import_module(sys.argv[1])
except Exception as exc:
    error = repr(exc)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in {TUI_PACKAGES!r})
print(json.dumps({{"error": error, "leaked": leaked}}))
"""


def modules_in(folder: str, skip: set[str] = frozenset()) -> list[str]:
    return sorted(
        f"zmqtui.{folder}.{path.stem}"
        for path in (PACKAGE / folder).glob("*.py")
        if path.stem != "__init__" and path.stem not in skip
    )


HEADLESS = [
    "zmqtui",
    "zmqtui.protocol",
    "zmqtui.config",
    "zmqtui.cli",
    "zmqtui.services",
    *modules_in("services"),
    *modules_in("commands", skip=TUI_COMMANDS),
]


@pytest.fixture(scope="module")
def imports() -> dict[str, dict]:
    """What importing each headless module in its own interpreter loaded (run in parallel)."""
    children = {
        name: subprocess.Popen(
            [sys.executable, "-c", PROBE, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for name in HEADLESS
    }
    results = {}
    for name, child in children.items():
        stdout, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stderr.decode(errors="replace")
        results[name] = json.loads(stdout)
    return results


def test_discovery_finds_the_services_and_commands():
    assert {"zmqtui.services.filer", "zmqtui.services.requester"} <= set(HEADLESS)
    assert {"zmqtui.commands.serve", "zmqtui.commands.request"} <= set(HEADLESS)


@pytest.mark.parametrize("module", HEADLESS)
def test_module_imports_without_tui(imports, module: str):
    result = imports[module]
    assert result["error"] is None, f"{module} failed to import: {result['error']}"
    assert result["leaked"] == [], f"{module} imports {', '.join(result['leaked'])}"


def test_probe_catches_a_leak():
    """The probe itself works: importing Textual is reported."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "textual.app"], capture_output=True, text=True, timeout=60
    )
    assert "textual.app" in json.loads(out.stdout)["leaked"]
