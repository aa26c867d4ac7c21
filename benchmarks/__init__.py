"""zmqtui's benchmarks, run on demand with `python -m benchmarks` from a checkout."""
