"""One run, from starting the server to summary.json:

1. starts `zerodep-http loadtests.apps.loadapp:app -b 127.0.0.1:0 -w N` in a
   process group of its own, reads the real port from the master's
   `Listening at:` line and waits for `Serving with N workers`;
2. runs locust headless (`loadtests/locust/<profile>.py`) for `--run-time`
   with `--users` at `--spawn-rate`, on `--processes` processes, writing its
   CSV files, HTML report and JSON statistics to the results directory;
3. meanwhile plays the `--scenario`: `hup` (a reload every `--interval`
   seconds), `kill9` (SIGKILL to a random serving worker every `--interval`
   seconds), `term` (SIGTERM to the master with requests and streams in
   flight), or `none`;
4. stops the server (TERM, then SIGKILL to its group if it does not exit in
   time) and every other process it started, also when interrupted;
5. prints a summary and returns 0 when every check held, 1 when one did not.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from . import ROOT, RunError
from .load import Locust
from .report import evaluate, read_failures, read_stats, summary_text
from .scenarios import Scenario
from .server import READY_TIMEOUT, Server, stop_timeout

RESULTS_DIR = ROOT / "loadtests" / "results"
#: How long locust may overrun its --run-time.
LOCUST_MARGIN = 60.0


def results_dir(args: argparse.Namespace) -> Path:
    if args.results_dir is not None:
        path = args.results_dir
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = RESULTS_DIR / f"locust-{stamp}-{args.profile}-{args.scenario}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("locust") is None:
        raise RunError("locust is not installed: pip install -e '.[load]'")
    results = results_dir(args)
    with tempfile.TemporaryDirectory(prefix="zerodep-loadtest-") as tmp:
        term_file = os.path.join(tmp, "term-sent")
        server = Server(args.app, args.workers, args.server_arg, os.path.join(tmp, "static"),
                        results / "server.log", args.verbose)
        locust = Locust(args, "", results, term_file)
        scenario = Scenario(args, server, term_file)
        try:
            server.start()
            locust = Locust(args, server.url, results, term_file)
            locust.start()
            if not locust.started.wait(60):
                raise RunError(f"locust did not start within 60 s; see {locust.log_path}")
            scenario.start()
            locust_code = locust.wait(args.run_time + LOCUST_MARGIN)
            scenario.done.set()
            scenario.join(READY_TIMEOUT + 90)
            if scenario.error is not None:
                raise RunError(f"the {args.scenario} scenario failed: {scenario.error!r}")
            if server.proc.poll() is None or server.exit_code is None:
                server.stop(stop_timeout(args))
        finally:
            scenario.done.set()
            locust.stop()
            server.kill()
        stats = read_stats(results)
        failures = read_failures(results)
        verdict = evaluate(args, stats, server, scenario)
        text = summary_text(args, stats, verdict, server, scenario, failures, results)
        print(text)
        (results / "summary.txt").write_text(text + "\n")
        summary = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                   "stats": {k: v for k, v in stats.items() if k != "fails_per_sec"},
                   "failures": failures, "verdict": verdict, "locust_exit": locust_code,
                   "server": {"exit": server.exit_code, "stop_seconds": server.stop_seconds,
                              "workers_served": server.snapshot().ever_served},
                   "scenario": {"events": [asdict(e) for e in scenario.events],
                                "notes": scenario.notes, "term": scenario.term,
                                "allowed_failures": scenario.allowed_failures}}
        (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return 0 if verdict["passed"] else 1
