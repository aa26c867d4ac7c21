"""The filer: the rules for reading a file on request, and the responder that applies them.

`rules.FileRules.respond` turns one request's frames into exactly one reply (decoded request,
encoded reply) and never raises, so the responder (`responder.serve_files`) and every cluster
worker call it unguarded. What the rest of zmqtui uses is re-exported here.
"""

from zmqtui.services.filer.responder import serve_files
from zmqtui.services.filer.rules import (
    MAX_SYMLINK_HOPS,
    Answer,
    FileRules,
    file_reply_bytes,
)

__all__ = [
    "MAX_SYMLINK_HOPS",
    "Answer",
    "FileRules",
    "file_reply_bytes",
    "serve_files",
]
