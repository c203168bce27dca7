"""The locust runner behind `python -m loadtests`, one concept a module:

- cli: the command line;
- server: the zerodep-http master, followed through its log;
- load: locust, headless, in a process of its own;
- scenarios: what is done to the master while locust runs (hup, kill9, term);
- probes: the requests the term scenario holds open across the TERM;
- report: locust's results read back, checked and summed up;
- run: one run, from starting the server to summary.json.

Process groups and /proc are `loadtests.processes`, shared with the scripts.
"""

from __future__ import annotations

from pathlib import Path

#: The repository root: the server and locust run from it, so that
#: `loadtests.apps` is importable for them.
ROOT = Path(__file__).resolve().parents[2]


class RunError(Exception):
    """The run could not be made (exit status 2)."""
