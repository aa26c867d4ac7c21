"""Path completion for the request composer, from the directory the filer serves."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from textual.suggester import Suggester

from zmqtui.text import printable

MAX_ENTRIES = 5000
"""Entries looked at per directory, so a huge directory cannot stall completion."""


def complete_path(root: Path, value: str, max_entries: int = MAX_ENTRIES) -> str | None:
    """The first entry under `root` that completes `value` (a path relative to `root`).

    Directories complete with a trailing `/` so the next keystrokes go inside; hidden
    entries only when the typed name starts with a dot; never a name that could not be shown
    as it is (control characters, bidirectional overrides). Never looks outside `root`.
    """
    if not value or value.startswith("/") or "\x00" in value:
        return None
    head, slash, prefix = value.rpartition("/")
    try:
        base = root.resolve()
        directory = (base / head).resolve() if head else base
        if not directory.is_relative_to(base):
            return None
        matches: list[tuple[str, bool]] = []
        with os.scandir(directory) as entries:
            for count, entry in enumerate(entries):
                if count >= max_entries:
                    break
                name = entry.name
                if not name.startswith(prefix) or printable(name) != name:
                    continue
                if name.startswith(".") and not prefix.startswith("."):
                    continue
                is_dir = entry.is_dir(follow_symlinks=False)
                if name != prefix or is_dir:
                    matches.append((name, is_dir))
    except (OSError, ValueError):
        return None
    if not matches:
        return None
    name, is_dir = min(matches)
    return f"{head}{slash}{name}{'/' if is_dir else ''}"


class PathSuggester(Suggester):
    """Suggests file paths under `root` as the user types (accept with the right arrow)."""

    def __init__(self, root: Path) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.root = root

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete_path, self.root, value)
