"""Interleaved rounds: every configuration, server and endpoint once per
round, the server order rotating; then the median of each cell."""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from .configs import CONFIGS
from .memory import measure_memory
from .serving import running_server
from .servers import SERVERS
from .wrk import WARMUP_SECONDS, run_wrk


def run_rounds(args: argparse.Namespace, lua: Path, tmp: Path) -> dict:
    """Interleave: each round runs every configuration, and in it every server on
    every endpoint, the server order rotating from round to round."""
    raw: dict = {c: {s: {e: [] for e in SERVERS[s].endpoints} for s in args.servers} for c in args.configs}
    for rnd in range(args.rounds):
        shift = rnd % len(args.servers)
        order = args.servers[shift:] + args.servers[:shift]
        for config_name in args.configs:
            config = CONFIGS[config_name]
            for name in order:
                with running_server(name, config, args, tmp) as (port, pid):
                    for endpoint in SERVERS[name].endpoints:
                        run_wrk(port, endpoint, WARMUP_SECONDS, lua, config)
                        result = run_wrk(port, endpoint, args.duration, lua, config)
                        result.update(measure_memory(pid))
                        raw[config_name][name][endpoint].append(result)
                        print(f"round {rnd + 1}/{args.rounds} {config_name:9} {name:16} {endpoint:6} "
                              f"{result['rps']:>10.0f} req/s  p99 {result['p99_ms']:6.2f} ms  "
                              f"errors {result['errors']:<5} worker {result['worker_mb']:5.1f} MB  "
                              f"total {result['total_mb']:5.1f} MB ({result['processes']} proc)",
                              file=sys.stderr)
    return raw


def summarize(raw: dict) -> dict:
    """Median over rounds for each cell; min/max show how much the rounds disagree."""
    summary: dict = {}
    for config_name, by_server in raw.items():
        for name, by_endpoint in by_server.items():
            for endpoint, runs in by_endpoint.items():
                rps = [r["rps"] for r in runs]
                summary[(config_name, name, endpoint)] = {
                    "rps": statistics.median(rps), "min": min(rps), "max": max(rps),
                    "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                    "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                    "errors": sum(r["errors"] for r in runs),
                    "worker_mb": statistics.median(r["worker_mb"] for r in runs),
                    "total_mb": statistics.median(r["total_mb"] for r in runs),
                    "rounds": len(runs),
                }
    return summary
