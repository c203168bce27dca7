"""Interleaved rounds: every configuration, server and row once per round,
the server order rotating; then the median of each cell."""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
from pathlib import Path

from ..processes import running_on
from .checks import session_cookie
from .configs import CONFIGS, Config
from .fanout import measure_fanout
from .idle import measure_idle
from .memory import measure_memory, total_rss_kib
from .rows import ROWS
from .serving import rows_served, running_server
from .wrk import run_wrk


def measure_row(name: str, port: int, pid: int, config: Config, args: argparse.Namespace,
                scripts: dict[str, Path], tmp: Path) -> dict:
    """One row on a running server: wrk after its warmup, or one of the
    clients, run on the CPUs wrk would have."""
    row = ROWS[name]
    if row.kind == "wrk":
        script = scripts.get(name)
        if row.session:  # each server signs its own cookie
            script = tmp / f"session-{port}.lua"
            script.write_text(row.lua(session_cookie(port)))  # type: ignore[arg-type]
        run_wrk(port, row, args.warmup, script, config)
        return run_wrk(port, row, args.duration, script, config)
    with running_on(config.wrk_cpus):
        if row.kind == "idle":
            return measure_idle(port, args.idle_connections, functools.partial(total_rss_kib, pid))
        return measure_fanout(port, args.sse_streams, args.duration)


def describe(result: dict, unit: str) -> str:
    """One progress line's figures."""
    if "held" in result:
        detail = f"{result['held']} held"
    elif "max_ms" in result:
        detail = f"p50 {result['p50_ms']:7.2f} ms  max {result['max_ms']:7.2f} ms"
    else:
        detail = f"p99 {result['p99_ms']:7.2f} ms"
    return (f"{result['value']:>10.1f} {unit:8}  {detail}  errors {result['errors']:<5} "
            f"worker {result['worker_mb']:5.1f} MB  total {result['total_mb']:5.1f} MB "
            f"({result['processes']} proc)")


def batches(rows: list[str]) -> list[list[str]]:
    """The rows measured on one start of a server: the wrk rows together, and
    the idle and SSE rows each on a fresh start, so that their memory and
    streams neither start from nor leave behind what other rows did."""
    wrk_rows = [row for row in rows if ROWS[row].kind == "wrk"]
    return ([wrk_rows] if wrk_rows else []) + [[row] for row in rows if ROWS[row].kind != "wrk"]


def run_rounds(args: argparse.Namespace, scripts: dict[str, Path], tmp: Path) -> dict:
    """Interleave: each round runs every configuration, and in it every server on
    every row it answers, the server order rotating from round to round."""
    raw: dict = {c: {s: {r: [] for r in rows_served(s, args.rows)} for s in args.servers}
                 for c in args.configs}
    for rnd in range(args.rounds):
        shift = rnd % len(args.servers)
        order = args.servers[shift:] + args.servers[:shift]
        for config_name in args.configs:
            config = CONFIGS[config_name]
            for name in order:
                for batch in batches(rows_served(name, args.rows)):
                    with running_server(name, config, args, tmp, batch) as (port, pid, wrong):
                        for row in batch:
                            if row in wrong:
                                raw[config_name][name][row].append({"wrong": wrong[row]})
                                print(f"round {rnd + 1}/{args.rounds} {config_name:9} {name:16} {row:10} "
                                      f"not measured, wrong answer: {wrong[row]}", file=sys.stderr)
                                continue
                            result = measure_row(row, port, pid, config, args, scripts, tmp)
                            result.update(measure_memory(pid))
                            raw[config_name][name][row].append(result)
                            print(f"round {rnd + 1}/{args.rounds} {config_name:9} {name:16} {row:10} "
                                  + describe(result, ROWS[row].unit), file=sys.stderr)
    return raw


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None and not math.isnan(r[key])]
    return statistics.median(values) if values else None


def summarize(raw: dict) -> dict:
    """Median over rounds for each cell; min/max show how much the rounds disagree."""
    summary: dict = {}
    for config_name, by_server in raw.items():
        for name, by_row in by_server.items():
            for row, all_runs in by_row.items():
                runs = [r for r in all_runs if "wrong" not in r]
                if all_runs and not runs:
                    summary[(config_name, name, row)] = {"wrong": all_runs[0]["wrong"]}
                if not runs:
                    continue
                values = [r["value"] for r in runs if not math.isnan(r["value"])]
                summary[(config_name, name, row)] = {
                    "value": statistics.median(values) if values else math.nan,
                    "min": min(values, default=math.nan), "max": max(values, default=math.nan),
                    "p50_ms": _median(runs, "p50_ms"), "p99_ms": _median(runs, "p99_ms"),
                    "errors": sum(r["errors"] for r in runs),
                    "worker_mb": statistics.median(r["worker_mb"] for r in runs),
                    "total_mb": statistics.median(r["total_mb"] for r in runs),
                    "rounds": len(runs),
                }
    return summary
