"""Writing a file whole: a reader sees its old content or its new, never half of either.

Headless: imports neither zmq nor Textual.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: Path, data: bytes) -> None:
    """Make `data` the whole content of `path`: written to a temporary file beside it (mode
    0600), then renamed over it; the temporary file is removed if anything fails."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
