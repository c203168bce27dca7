"""Load tests: `python -m loadtests` runs the locust suites against a
zerodep-http master (see loadtests/README.md); `bench.py` measures
throughput against peers."""
