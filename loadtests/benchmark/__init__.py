"""The throughput benchmark behind `python loadtests/bench.py`: zerodep-http
against peer Python servers and nginx, one concept a module:

- environment: wrk, nginx and the peers' venv, installed when missing, and
  what the machine and its software are;
- configs: how many workers each server gets and where server and wrk run;
- servers: the contenders, each with its command line;
- serving: one server started, checked, measured and stopped;
- wrk: running wrk and reading its output;
- memory: the resident memory of a server's processes;
- rounds: interleaved rounds over configurations and servers, and their medians;
- report: the Markdown table; chart: the PNG chart;
- cli: the command line, from arguments to the written results.
"""

from __future__ import annotations

from pathlib import Path

#: The repository root: zerodep-http runs from it, the results and docs are under it.
REPO = Path(__file__).resolve().parents[2]
