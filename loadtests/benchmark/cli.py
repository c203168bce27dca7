"""The command line: arguments, installs, the rounds, and the results
written to loadtests/results/ (and docs/ with --publish)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
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
from .rounds import batches, run_rounds, summarize
from .rows import GROUPS, ROWS, STATIC_NAME, select, static_content
from .serving import COMMANDS, rows_served
from .servers import DEFAULT_SERVERS, HOSTED, SERVERS

RESULTS_DIR = REPO / "loadtests" / "results"
DOCS_DIR = REPO / "docs"
#: What a full run and a --quick one measure, where the options do not say.
FULL = {"duration": 10, "rounds": 3, "warmup": 2, "idle_connections": 10_000, "sse_streams": 5_000}
QUICK = {"duration": 2, "rounds": 1, "warmup": 1, "idle_connections": 1_000, "sse_streams": 500}
#: File descriptors kept free beside the idle connections (listeners, logs, pipes, wrk).
SPARE_FILES = 256


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python loadtests/bench.py",
        description="Throughput benchmark: zerodep-http against peer Python servers and nginx.")
    parser.add_argument("--only", metavar="ROWS",
                        help=f"comma-separated groups ({','.join(GROUPS)}) or rows "
                             f"({','.join(ROWS)}) to measure (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in QUICK.items())
                             + " unless given")
    parser.add_argument("--duration", type=int, help=f"seconds per measurement (default {FULL['duration']}); "
                                                     "also the number of SSE events counted")
    parser.add_argument("--rounds", type=int, help=f"interleaved rounds (default {FULL['rounds']})")
    parser.add_argument("--warmup", type=int, help=f"seconds of wrk before each measurement "
                                                   f"(default {FULL['warmup']})")
    parser.add_argument("--idle-connections", type=int,
                        help=f"idle keep-alive connections per server (default {FULL['idle_connections']})")
    parser.add_argument("--sse-streams", type=int,
                        help=f"open SSE streams per server (default {FULL['sse_streams']})")
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=DEFAULT_SERVERS,
                        help="servers to measure (default: all but the hosted-application "
                             f"ones, {', '.join(HOSTED)})")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                        help="configurations to run (default: both)")
    parser.add_argument("--publish", action="store_true",
                        help="also write docs/bench.md and docs/bench.png")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                        help="interpreter that runs zerodep-http (default: the project's .venv)")
    parser.add_argument("--app", default="loadtests.apps.benchapp:app",
                        help="module:attribute of the zerodep app to serve "
                             "(default loadtests.apps.benchapp:app)")
    args = parser.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if min(args.duration, args.rounds, args.idle_connections, args.sse_streams) < 1 or args.warmup < 0:
        parser.error("--duration, --rounds, --idle-connections and --sse-streams must be at least 1")
    try:
        args.rows = select(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    args.servers = list(dict.fromkeys(args.servers))
    args.configs = list(dict.fromkeys(args.configs))
    if "1-pinned" in args.configs and len(os.sched_getaffinity(0)) < 2:
        parser.error("1-pinned needs two CPUs: one for the server, one for wrk")
    return args


def raise_file_limit(args: argparse.Namespace) -> None:
    """The soft limit of open files up to the hard one, for this process (the
    idle client) and the servers it starts; fewer idle connections if even
    the hard limit is too low for them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if "idle" in args.rows and soft != resource.RLIM_INFINITY and soft < args.idle_connections + SPARE_FILES:
        print(f"ulimit -n is {soft}: {soft - SPARE_FILES} idle connections instead of "
              f"{args.idle_connections}", file=sys.stderr)
        args.idle_connections = soft - SPARE_FILES


def estimate_seconds(args: argparse.Namespace) -> float:
    """wrk rows: warmup and measurement; idle: opening and reading; SSE: the
    events counted, opening and the grace; plus a start per server."""
    per_kind = {"wrk": args.warmup + args.duration, "idle": 5 + args.idle_connections / 2000,
                "sse": args.duration + 5 + args.sse_streams / 2000}
    cells = sum(per_kind[ROWS[row].kind] for s in args.servers for row in rows_served(s, args.rows))
    starts = sum(len(batches(rows_served(s, args.rows))) for s in args.servers)
    return (cells + starts * 2) * len(args.configs) * args.rounds


def exit_on_sigterm(signum, frame) -> None:
    """Turn SIGTERM into SystemExit so the `finally` that stops the server still runs."""
    raise SystemExit(128 + signum)


def write_inputs(tmp: Path, args: argparse.Namespace) -> dict[str, Path]:
    """The static file every server serves, and a wrk script per row with a body."""
    tmp.chmod(0o755)   # nginx's workers run as another user, and read the file too
    args.static_dir = tmp / "static"
    args.static_dir.mkdir()
    (args.static_dir / STATIC_NAME).write_bytes(static_content())
    scripts = {}
    for name in args.rows:
        if (lua := ROWS[name].lua()) is not None:
            scripts[name] = tmp / f"{name}.lua"
            scripts[name].write_text(lua)
    return scripts


def main() -> None:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = parse_args()
    raise_file_limit(args)
    ensure_wrk()
    if "nginx" in args.servers:
        ensure_nginx()
    ensure_peer_venv()
    info = machine_info(args)
    info["configs"] = {c: CONFIGS[c].describe(args) for c in args.configs}
    info["rows"] = args.rows
    print(f"about {estimate_seconds(args) / 60:.1f} min: {len(args.servers)} server(s), "
          f"{len(args.rows)} row(s), {len(args.configs)} configuration(s), {args.rounds} round(s)",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="zerodep-bench-") as tmp:
        scripts = write_inputs(Path(tmp), args)
        raw = run_rounds(args, scripts, Path(tmp))
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
