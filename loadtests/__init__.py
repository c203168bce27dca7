"""Load tests: `python -m loadtests` runs the locust suites against a
zerodep-http master (loadtests/runner/); `bench.py` measures throughput
against peers (loadtests/benchmark/); `spread.py`, `reloads.py` and
`instructions.py` measure one thing each. See loadtests/README.md."""
