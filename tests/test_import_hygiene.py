"""The headless side never imports Textual or Rich.

Each module is imported in a fresh interpreter and its `sys.modules` inspected, so a module
that pulls the TUI in through some other import is caught too. Modules are found by globbing,
so services and commands added later are covered without touching this file.
"""

from __future__ import annotations

import ast
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
SHARED = ("asyncio", "click", "zmq", "zmq.asyncio")
"""Dependencies the probe imports once before forking; checked to load no TUI themselves."""

PROBE = f"""
import importlib, json, os, sys

def probe(name):
    error = None
    try:
        importlib.import_module(name)
    except Exception as exc:
        error = repr(exc)
    return {{"error": error, "leaked": leaked()}}

def leaked():
    return sorted(m for m in sys.modules if m.split(".")[0] in {TUI_PACKAGES!r})

for shared in {SHARED!r}:  # paid for once here rather than in every child
    importlib.import_module(shared)
assert not leaked(), leaked()

results = {{}}
for name in sys.argv[1:]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.write(write_end, json.dumps(probe(name)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        results[name] = json.loads(pipe.read() or b'{{"error": "probe died", "leaked": []}}')
    os.waitpid(pid, 0)
print(json.dumps(results))
"""
"""Imports each module named on its command line in a forked child of one interpreter, so every
module starts from the same clean `sys.modules` without paying for a fresh interpreter."""


def modules_in(folder: str, skip: set[str] = frozenset()) -> list[str]:
    """The modules under `folder`, packages in it and their modules included."""
    names = []
    for path in (PACKAGE / folder).rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] not in skip and len(parts) > len(Path(folder).parts):
            names.append(".".join(("zmqtui", *parts)))
    return sorted(names)


HEADLESS = [
    "zmqtui",
    *(f"zmqtui.{path.stem}" for path in sorted(PACKAGE.glob("*.py")) if path.stem[0] != "_"),
    "zmqtui.decoders",
    *modules_in("decoders"),
    "zmqtui.security",
    *modules_in("security"),
    "zmqtui.services",
    *modules_in("services"),
    *modules_in("commands", skip=TUI_COMMANDS),
]


@pytest.fixture(scope="module")
def imports() -> dict[str, dict]:
    """What importing each headless module alone loaded, by module name."""
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, *HEADLESS], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr
    return json.loads(probe.stdout)


def test_discovery_finds_the_services_and_commands():
    assert {"zmqtui.services.filer", "zmqtui.services.filer.rules"} <= set(HEADLESS)
    assert "zmqtui.services.requester" in HEADLESS
    assert {"zmqtui.commands.serve", "zmqtui.commands.request"} <= set(HEADLESS)


@pytest.mark.integration
@pytest.mark.parametrize("module", HEADLESS)
def test_module_imports_without_tui(imports, module: str):
    result = imports[module]
    assert result["error"] is None, f"{module} failed to import: {result['error']}"
    assert result["leaked"] == [], f"{module} imports {', '.join(result['leaked'])}"


@pytest.mark.integration
def test_probe_catches_a_leak():
    """The probe itself works: a module that pulls Rich in is reported, its neighbour is not."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "rich.markup", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    results = json.loads(out.stdout)
    assert "rich.markup" in results["rich.markup"]["leaked"]
    assert results["json"] == {"error": None, "leaked": []}


BACKENDS = {"bridge", "playback_bridge"}
"""The monitor's modules that talk to sockets: the backends (`ZmqBridge`, the `--open` one)."""
SCREEN = [name for name in modules_in("tui") if name.rsplit(".", 1)[-1] not in BACKENDS]
"""The app, its panes, screens and widgets: they talk to a backend (`zmqtui.tui.backend`),
never to a socket."""
SOCKET_SIDE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(*sorted(m for m in sys.modules if m == "zmq" or m.startswith(("zmq.", "zmqtui.services"))))
"""


def socket_side_loaded_by(modules: list[str]) -> list[str]:
    """The zmq and `zmqtui.services` modules importing `modules` loads, in a fresh interpreter."""
    run = subprocess.run(
        [sys.executable, "-c", SOCKET_SIDE, *modules], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


@pytest.mark.integration
def test_the_app_and_its_panes_load_neither_zmq_nor_the_services():
    assert {"zmqtui.tui.app", "zmqtui.tui.panes.workers.pane", "zmqtui.tui.help"} <= set(SCREEN)
    assert socket_side_loaded_by(SCREEN) == []
    assert "zmq" in socket_side_loaded_by(["zmqtui.tui.bridge"])  # the check itself sees them


def test_the_screen_never_names_zmq_nor_the_services():
    """Not even for type checking: the screen's types live beside it or in headless modules."""
    screen = [path for path in (PACKAGE / "tui").rglob("*.py") if path.stem not in BACKENDS]
    for path in screen:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            named = [n for n in names if n == "zmq" or n.startswith(("zmq.", "zmqtui.services"))]
            assert not named, f"{path.relative_to(PACKAGE)} imports {', '.join(named)}"
