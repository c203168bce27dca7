"""Benchmark: zerodep-http against peer Python servers and nginx.

Every server answers the same requests row by row: plaintext, JSON and
echo, the same from plain-function (sync) handlers, a 1 MB response and a
1 MB request body, a new connection per request, a 1 MiB static file (wrk
measures requests/s or MB/s and latency), the memory per idle keep-alive
connection at 10,000 connections, and the delivery time of one event a
second to 5,000 SSE streams. After each measurement the resident memory of
the server's processes is read.

Two configurations:

- "1-pinned": one worker, the whole server pinned to CPU 0 and wrk to CPU 1,
  so the server gets one whole core and the load generator never steals it.
- "2-workers": two worker processes wherever the server has workers, nothing
  pinned, wrk with two threads: the whole machine shared, as in production.

Rounds are interleaved so that drift on the machine (thermal, noisy
neighbours) spreads over every server instead of biasing one.  Load goes to
127.0.0.1 only.

Usage: python loadtests/bench.py [--only GROUPS] [--quick] [--duration 10] [--rounds 3]
                                 [--servers ...] [--configs ...] [--publish]
       (or python -m loadtests.bench from the repository root)

The benchmark itself is the package loadtests/benchmark/; this is its entry point.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by its path: import through the loadtests package from the
    # repository root, never a sibling script by its bare name.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from loadtests.benchmark.cli import main

if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, no results written")
