"""The benchmark behind `python loadtests/bench.py`: zerodep-http against
peer Python servers and nginx, row by row, one concept a module:

- environment: wrk, nginx and the peers' venv, installed when missing, and
  what the machine and its software are;
- configs: how many workers each server gets and where server and wrk run;
- rows: what each row of the table measures, how, and in which unit;
- servers: the contenders, the rows each answers, their command lines;
- serving: one server started, checked (checks: each row's answer) and stopped;
- wrk: running wrk and reading its output (the requests/s and MB/s rows);
- idle: many idle keep-alive connections, and the memory each one costs;
- fanout: SSE streams held open, and how long an event takes to reach them;
- memory: the resident memory of a server's processes;
- rounds: interleaved rounds over configurations, servers and rows, and their medians;
- report: the Markdown table; chart: the PNG chart;
- cli: the command line, from arguments to the written results.
"""

from __future__ import annotations

from pathlib import Path

#: The repository root: zerodep-http runs from it, the results and docs are under it.
REPO = Path(__file__).resolve().parents[2]
