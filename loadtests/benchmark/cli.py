"""The command line: arguments, installs, the rounds, and the results
written to loadtests/results/ (and docs/ with --publish)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from . import REPO
from .chart import plot
from .configs import CONFIGS
from .environment import ensure_nginx, ensure_peer_venv, ensure_wrk, machine_info
from .report import markdown
from .rounds import run_rounds, summarize
from .serving import COMMANDS
from .servers import SERVERS
from .wrk import ECHO_LUA, WARMUP_SECONDS

RESULTS_DIR = REPO / "loadtests" / "results"
DOCS_DIR = REPO / "docs"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python loadtests/bench.py",
        description="Throughput benchmark: zerodep-http against peer Python servers and nginx.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS),
                        help="servers to measure (default: all)")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                        help="configurations to run (default: both)")
    parser.add_argument("--publish", action="store_true",
                        help="also write docs/bench.md and docs/bench.png")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                        help="interpreter that runs zerodep-http (default: the project's .venv)")
    parser.add_argument("--app", default="zerodep_http.demo:app",
                        help="module:attribute of the zerodep app to serve (default zerodep_http.demo:app)")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rounds < 1:
        parser.error("--duration and --rounds must be at least 1")
    args.servers = list(dict.fromkeys(args.servers))
    args.configs = list(dict.fromkeys(args.configs))
    if "1-pinned" in args.configs and len(os.sched_getaffinity(0)) < 2:
        parser.error("1-pinned needs two CPUs: one for the server, one for wrk")
    return args


def estimate_seconds(args: argparse.Namespace) -> float:
    cells = sum(len(SERVERS[s].endpoints) for s in args.servers)
    starts = len(args.servers) * len(args.configs) * args.rounds
    return cells * len(args.configs) * args.rounds * (WARMUP_SECONDS + args.duration) + starts * 2


def exit_on_sigterm(signum, frame) -> None:
    """Turn SIGTERM into SystemExit so the `finally` that stops the server still runs."""
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = parse_args()
    ensure_wrk()
    if "nginx" in args.servers:
        ensure_nginx()
    ensure_peer_venv()
    info = machine_info(args)
    info["configs"] = {c: CONFIGS[c].describe(args) for c in args.configs}
    print(f"about {estimate_seconds(args) / 60:.1f} min: {len(args.servers)} server(s), "
          f"{len(args.configs)} configuration(s), {args.rounds} round(s)", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="zerodep-bench-") as tmp:
        lua = Path(tmp) / "echo.lua"
        lua.write_text(ECHO_LUA)
        raw = run_rounds(args, lua, Path(tmp))
    summary = summarize(raw)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    png = RESULTS_DIR / f"bench-{stamp}.png"
    plot(summary, args, info, png)
    table = markdown(summary, args, info, png.name)
    print(table)
    (RESULTS_DIR / f"bench-{stamp}.md").write_text(table)
    record = {"machine": info, "commands": COMMANDS, "runs": raw}
    (RESULTS_DIR / f"bench-{stamp}.json").write_text(json.dumps(record, indent=2))
    print(f"wrote {RESULTS_DIR}/bench-{stamp}.md, .json and .png", file=sys.stderr)
    if args.publish:
        DOCS_DIR.mkdir(exist_ok=True)
        shutil.copyfile(png, DOCS_DIR / "bench.png")
        (DOCS_DIR / "bench.md").write_text(markdown(summary, args, info, "bench.png"))
        print(f"published {DOCS_DIR}/bench.md and bench.png", file=sys.stderr)
