"""Optional CURVE security: whom our sockets let in, whom they trust, and why a handshake failed.

With a key pair configured (`curve_secret`, `$ZMQTUI_CURVE_SECRET`) every TCP endpoint this
process binds is a CURVE server that admits only authorized client keys, and every TCP endpoint
it connects to is reached as a CURVE client that trusts one server key. `ipc://` and `inproc://`
endpoints never leave the machine and are guarded by file permissions, so they stay as they are.
`zmqtui.services.sockets` calls in here from `bind` and `connect`: services need no change.

Key files (`keys`), the process's profile (`profile`), the ZAP handler (`zap`) and handshake
diagnosis (`handshake`) each have a module; what the rest of zmqtui uses is re-exported here.
"""

from zmqtui.security.handshake import (
    HANDSHAKE_EVENTS,
    HandshakeWatch,
    describe_handshake_failure,
)
from zmqtui.security.keys import (
    KeyPairFiles,
    read_authorized_keys,
    read_public_key_file,
    read_secret_key_file,
    write_key_pair,
)
from zmqtui.security.profile import (
    LOCAL_TRANSPORTS,
    CurveProfile,
    active_profile,
    covers,
    curve_for_feed,
    make_curve_client,
    make_curve_server,
    resolve_profile,
    use_profile,
)
from zmqtui.security.zap import ZAP_ENDPOINT, ZapHandler, zap_handler

__all__ = [
    "HANDSHAKE_EVENTS",
    "LOCAL_TRANSPORTS",
    "ZAP_ENDPOINT",
    "CurveProfile",
    "HandshakeWatch",
    "KeyPairFiles",
    "ZapHandler",
    "active_profile",
    "covers",
    "curve_for_feed",
    "describe_handshake_failure",
    "make_curve_client",
    "make_curve_server",
    "read_authorized_keys",
    "read_public_key_file",
    "read_secret_key_file",
    "resolve_profile",
    "use_profile",
    "write_key_pair",
    "zap_handler",
]
