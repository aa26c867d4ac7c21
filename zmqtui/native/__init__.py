"""Forwarding loops in C (`_loops`), over sockets pyzmq made.

Python's per-message cost (a frame object per frame received, an exception per empty drain)
is most of what a broker or a proxy spends on a request; libzmq's own proxy spends a few µs.
The loops that must decide per message (which worker gets a request, which request a reply
answers) run here in C, with the GIL released, on the very libzmq pyzmq loaded: its functions
are looked up in pyzmq's extension (whose dependencies include that libzmq) and handed to
`_loops` once, at import.
"""

from __future__ import annotations

import ctypes

import zmq
from zmq.backend.cython import _zmq

try:
    from zmqtui.native import _loops
except ImportError as exc:
    raise ImportError(
        "zmqtui's C extension (zmqtui.native._loops) is not built: install zmqtui with pip, "
        "which compiles it (a C compiler and Python's headers are needed)"
    ) from exc

__all__ = ["loops"]


def _bind() -> None:
    library = ctypes.CDLL(_zmq.__file__)

    def resolve(name: str) -> int:
        try:
            function = getattr(library, name)
        except AttributeError:
            raise ImportError(f"pyzmq's libzmq has no {name}") from None
        return ctypes.cast(function, ctypes.c_void_p).value

    _loops.bind(resolve)
    bound, loaded = _loops.libzmq_version(), zmq.zmq_version_info()
    if bound != loaded:
        raise ImportError(f"bound libzmq {bound} is not pyzmq's {loaded}")


_bind()
loops = _loops
