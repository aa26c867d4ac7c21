"""The C extension's binding to libzmq."""

import subprocess
import sys
import textwrap

import pytest
import zmq

from zmqtui.native import loops


def test_the_loops_call_the_libzmq_pyzmq_loaded():
    assert loops.libzmq_version() == zmq.zmq_version_info()


@pytest.mark.integration
def test_no_loop_is_made_before_libzmq_is_bound():
    """The loops call libzmq through the table `zmqtui.native` fills at import: loaded on its
    own (in a fresh process), the extension refuses to make one instead of crashing later."""
    script = textwrap.dedent(
        f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("_loops", {loops.__file__!r})
        loops = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loops)
        for make in (
            lambda: loops.TapLoop(prefix=b"abcd", kept_bytes=1, kept_frames=1, tail_bytes=0,
                                  timeout_ms=1, max_pending=1, max_queued=1),
            lambda: loops.LoadBalancer(1, 2, 3, max_credit=1, stack_service_s=1.0,
                                       stack_stall_s=1.0, reply_budget=1, tracked_from=1,
                                       remembered_ignored=1),
        ):
            try:
                make()
            except RuntimeError as exc:
                print(exc)
            else:
                print("made")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert (
        done.stdout.splitlines()
        == ["libzmq is not bound yet: import zmqtui.native, which binds it, not _loops"] * 2
    )
