"""The C extension's binding to libzmq."""

import zmq

from zmqtui.native import loops


def test_the_loops_call_the_libzmq_pyzmq_loaded():
    assert loops.libzmq_version() == zmq.zmq_version_info()
