"""The command line of `python -m loadtests`: argparse with locust's duration
syntax, and the checks argparse cannot make alone."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

APP = "loadtests.apps.loadapp:app"
PROFILES = ("api", "sse", "static", "mixed")
SCENARIOS = ("none", "hup", "kill9", "term")
DEFAULT_INTERVAL = {"hup": 2.0, "kill9": 4.0}


def parse_duration(text: str) -> float:
    """Locust's time strings: 90, 90s, 2m, 1m30s, 1h."""
    text = text.strip().lower()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        return float(text)
    match = re.fullmatch(r"(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?", text)
    if not text or match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 2m, 1m30s)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


def positive_duration(text: str) -> float:
    value = parse_duration(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0 s")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests",
        description="Run a locust suite against zerodep-http on 127.0.0.1, optionally "
                    "during reloads (hup), worker kills (kill9) or a graceful shutdown (term).",
        epilog="Results (locust CSV, HTML and JSON, the server's log, summary.json) go to "
               "loadtests/results/locust-<time>-<profile>-<scenario>/ unless --results-dir is given.")
    load = parser.add_argument_group("load")
    load.add_argument("--profile", choices=PROFILES, default="mixed",
                      help="locust file: loadtests/locust/PROFILE.py (default: mixed)")
    load.add_argument("-u", "--users", type=int, default=20, help="concurrent locust users (default: 20)")
    load.add_argument("-r", "--spawn-rate", type=float, default=None,
                      help="users started per second (default: all of them within 1 s)")
    load.add_argument("-t", "--run-time", type=positive_duration, default=10.0,
                      help="how long the load runs: 10s, 1m, 1m30s (default: 10s)")
    load.add_argument("--think-scale", type=float, default=1.0,
                      help="multiply the users' think time between requests (0.05-0.3 s for "
                           "most); 0 = none, for throughput (default: 1)")
    load.add_argument("--processes", type=int, default=1,
                      help="locust processes (locust's --processes; -1 = one per CPU). One "
                           "process tops out at a few thousand requests/s (default: 1)")
    server = parser.add_argument_group("server")
    server.add_argument("--app", default=APP,
                        help=f"the application to serve (default: {APP}; the profiles rely on its routes)")
    server.add_argument("-w", "--workers", type=int, default=2, help="server worker processes (default: 2)")
    server.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for zerodep-http, repeatable, e.g. --server-arg=--no-reuse-port")
    scenario = parser.add_argument_group("scenario")
    scenario.add_argument("--scenario", choices=SCENARIOS, default="none",
                          help="none; hup: reload every --interval s, 0 failures allowed; kill9: "
                               "SIGKILL a random worker every --interval s, failures allowed up to "
                               "the connections it held; term: SIGTERM to the master at --term-at "
                               "with requests and streams in flight, which must complete")
    scenario.add_argument("--interval", type=positive_duration, default=None,
                          help="seconds between HUPs (default 2) or kills (default 4)")
    scenario.add_argument("--term-at", type=parse_duration, default=None,
                          help="term: seconds after the load started (default: half the run time)")
    scenario.add_argument("--in-flight", type=int, default=4,
                          help="term: SSE streams and slow requests each held open when TERM lands "
                               "(default: 4 + 4)")
    checks = parser.add_argument_group("pass/fail")
    checks.add_argument("--max-failures", type=int, default=0,
                        help="failed requests allowed (default 0; kill9 adds the connections "
                             "the killed workers held)")
    checks.add_argument("--min-rps", type=float, default=None, help="fail below this many requests/s")
    checks.add_argument("--max-p99-ms", type=float, default=None,
                        help="fail when the 99th percentile response time exceeds this")
    output = parser.add_argument_group("output")
    output.add_argument("--results-dir", type=Path, default=None, help="where to write the results")
    output.add_argument("-v", "--verbose", action="store_true",
                        help="echo the server's and locust's output to stderr")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.users < 1:
        parser.error("--users must be at least 1")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.processes == 0 or args.processes < -1:
        parser.error("--processes must be -1 or at least 1")
    if args.spawn_rate is None:
        args.spawn_rate = float(args.users)
    if args.spawn_rate <= 0:
        parser.error("--spawn-rate must be more than 0")
    if args.interval is None:
        args.interval = DEFAULT_INTERVAL.get(args.scenario, 2.0)
    if args.term_at is None:
        args.term_at = args.run_time / 2
    if args.scenario == "term" and not 0 < args.term_at < args.run_time:
        parser.error("--term-at must fall inside the run time")
    if args.think_scale < 0:
        parser.error("--think-scale must not be negative")
    if args.in_flight < 0:
        parser.error("--in-flight must not be negative")
    return args
