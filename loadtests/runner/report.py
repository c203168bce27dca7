"""locust's results read back (its JSON statistics and the failure table
_common.py writes), checked against the scenario, and summed up."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from . import RunError
from .scenarios import Scenario
from .server import Server

#: Locust's name and request type for refusals after TERM (see _common.py).
TERM_TYPE = "TERM"


def percentile(histogram: dict[int, int], total: int, fraction: float) -> int:
    """Locust's own percentile over a {rounded ms: count} histogram."""
    if not total:
        return 0
    wanted = int(total * fraction)
    processed = 0
    for value in sorted(histogram, reverse=True):
        processed += histogram[value]
        if total - processed <= wanted:
            return value
    return 0


def read_stats(results: Path) -> dict:
    """Totals from locust's JSON statistics, with the expected refusals after
    TERM counted apart and left out of the rates and percentiles."""
    path = results / "locust_stats.json"
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"locust wrote no statistics ({exc}); see {results / 'locust.log'}") from None
    histogram: dict[int, int] = {}
    fails_per_sec: dict[int, int] = {}
    requests = failures = 0
    refused_after_term = 0
    starts, ends = [], []
    max_ms = 0
    by_name = []
    for entry in entries:
        if entry["method"] == TERM_TYPE:
            refused_after_term += entry["num_requests"]
            continue
        requests += entry["num_requests"]
        failures += entry["num_failures"]
        for key, count in entry["response_times"].items():
            histogram[int(float(key))] = histogram.get(int(float(key)), 0) + count
        for key, count in entry["num_fail_per_sec"].items():
            fails_per_sec[int(float(key))] = fails_per_sec.get(int(float(key)), 0) + count
        if entry["num_requests"]:
            starts.append(entry["start_time"])
            ends.append(entry["last_request_timestamp"] or entry["start_time"])
        max_ms = max(max_ms, entry["max_response_time"] or 0)
        by_name.append({"method": entry["method"], "name": entry["name"],
                        "requests": entry["num_requests"], "failures": entry["num_failures"]})
    measured = sum(histogram.values())
    duration = (max(ends) - min(starts)) if starts else 0.0
    return {
        "requests": requests,
        "failures": failures,
        "rps": round(requests / duration, 1) if duration > 0 else 0.0,
        "p50_ms": percentile(histogram, measured, 0.50),
        "p95_ms": percentile(histogram, measured, 0.95),
        "p99_ms": percentile(histogram, measured, 0.99),
        "max_ms": round(max_ms),
        "refused_after_term": refused_after_term,
        "fails_per_sec": fails_per_sec,
        "by_name": by_name,
        "sse_streams": sum(e["requests"] - e["failures"] for e in by_name if "SSE" in e["name"]),
    }


def read_failures(results: Path) -> list[dict]:
    """Failed requests by (method, name, reason), from the table _common.py
    writes at exit; locust's _failures.csv as a fallback (it may miss the
    last second)."""
    try:
        rows = json.loads((results / "locust_errors.json").read_text())
        found = [{"method": r["method"], "name": r["name"], "error": unwrap(r["error"]),
                  "occurrences": r["occurrences"]} for r in rows]
    except (OSError, ValueError, KeyError):
        import csv
        try:
            with open(results / "locust_failures.csv", newline="") as file:
                found = [{"method": r["Method"], "name": r["Name"], "error": unwrap(r["Error"]),
                          "occurrences": int(r["Occurrences"])} for r in csv.DictReader(file)]
        except (OSError, KeyError, ValueError):
            return []
    return [f for f in found if f["method"] != TERM_TYPE]


def unwrap(error: str) -> str:
    """The reason given to resp.failure(), without locust's CatchResponseError('...')."""
    m = re.fullmatch(r"""CatchResponseError\((['"])(.*)\1\)""", error, re.DOTALL)
    return m.group(2) if m else error


def unexplained_failures(fails_per_sec: dict[int, int], kill_walls: list[float],
                         before: float = 1.0, after: float = 5.0) -> int:
    """Failures reported in seconds that no kill explains."""
    return sum(count for second, count in fails_per_sec.items()
               if not any(wall - before <= second + 1 and second <= wall + after for wall in kill_walls))


def expected_error(line: str, scenario: Scenario) -> bool:
    """Error lines the scenario itself causes."""
    killed = {e.detail["pid"] for e in scenario.events if e.what == "kill -9"}
    m = re.search(r"Worker ([0-9]+) was killed by SIGKILL", line)
    return bool(m) and int(m.group(1)) in killed


def evaluate(args: argparse.Namespace, stats: dict, server: Server, scenario: Scenario) -> dict:
    """Every check of the run, and whether it passed."""
    problems = list(scenario.problems)
    allowed = args.max_failures + scenario.allowed_failures
    if stats["failures"] > allowed:
        rule = (f"{args.max_failures} + {scenario.allowed_failures} connections held by killed workers"
                if args.scenario == "kill9" else "--max-failures")
        problems.append(f"{stats['failures']} failed requests; allowed {allowed} ({rule})")
    if args.scenario == "kill9":
        walls = [e.wall for e in scenario.events if e.what == "kill -9"]
        stray = unexplained_failures(stats["fails_per_sec"], walls)
        if stray > args.max_failures:
            problems.append(f"{stray} failures happened away from any kill")
    if stats["requests"] == 0:
        problems.append("no request was made")
    if args.min_rps is not None and stats["rps"] < args.min_rps:
        problems.append(f"{stats['rps']} requests/s is below --min-rps {args.min_rps}")
    if args.max_p99_ms is not None and stats["p99_ms"] > args.max_p99_ms:
        problems.append(f"p99 {stats['p99_ms']} ms is above --max-p99-ms {args.max_p99_ms}")
    log = server.snapshot()
    unexpected = [line for line in log.errors if not expected_error(line, scenario)]
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected error lines in the server's log, e.g. "
                        f"{unexpected[0]!r}")
    if server.exit_code != 0:
        problems.append(f"the master's exit status was {server.exit_code} (expected 0)")
    if args.scenario != "term" and stats["refused_after_term"]:
        problems.append("refusals counted as after TERM in a run without TERM")
    return {"passed": not problems, "problems": problems, "allowed_failures": allowed,
            "server_errors": unexpected, "server_warnings": log.warnings}


def describe_scenario(args: argparse.Namespace, scenario: Scenario, stats: dict) -> list[str]:
    lines = []
    if args.scenario == "hup":
        hups = [e for e in scenario.events if e.what == "HUP"]
        took = [e.detail["seconds"] for e in hups if e.detail["completed"]]
        span = f" ({min(took):.2f}–{max(took):.2f} s each)" if took else ""
        lines.append(f"HUP ×{len(hups)}: {len(took)} reloads completed{span}, "
                     f"{len(hups) - len(took)} did not")
    elif args.scenario == "kill9":
        for e in (e for e in scenario.events if e.what == "kill -9"):
            replaced = e.detail.get("replaced_after_s")
            lines.append(f"kill -9 worker {e.detail['pid']} at {e.at:.1f} s holding "
                         f"{e.detail['held_connections']} connections (frozen "
                         f"{e.detail['frozen_ms']} ms to count them); replacement serving "
                         + (f"after {replaced:.2f} s" if replaced is not None else "NOT seen"))
        lines.append(f"allowed failures: {args.max_failures} + {scenario.allowed_failures} "
                     f"(each held connection can lose at most its one request in flight)")
    elif args.scenario == "term" and scenario.term:
        t = scenario.term
        at = next(e.at for e in scenario.events if e.what == "TERM")
        lines.append(f"TERM at {at:.1f} s with {t['in_flight']['streams']} SSE streams and "
                     f"{t['in_flight']['slow_requests']} slow requests in flight: {t['completed']} "
                     f"completed (the longest after {t['longest_s']:.2f} s)")
        lines.append(f"master exited {t['master_exit']} {t['master_exit_after_s']:.2f} s after TERM; "
                     f"new connections refused afterwards: {'yes' if t['refused_after_exit'] else 'NO'}; "
                     f"locust users refused after TERM (expected, then stopped): "
                     f"{stats['refused_after_term']}")
    lines += scenario.notes
    return lines


def summary_text(args: argparse.Namespace, stats: dict, verdict: dict, server: Server,
                 scenario: Scenario, failures: list[dict], results: Path) -> str:
    out = [(f"zerodep-http under locust: profile {args.profile}, scenario {args.scenario}, "
            f"{args.users} users (spawn {args.spawn_rate:g}/s) for {args.run_time:g} s, "
            f"server {args.workers} workers, locust {args.processes} process(es)"),
           (f"  requests   {stats['requests']} ({stats['failures']} failed, "
            f"{verdict['allowed_failures']} allowed), {stats['rps']} req/s"),
           (f"  latency    p50 {stats['p50_ms']} ms, p95 {stats['p95_ms']} ms, "
            f"p99 {stats['p99_ms']} ms, max {stats['max_ms']} ms")]
    if stats["sse_streams"]:
        out.append(f"  SSE        {stats['sse_streams']} streams completed")
    for line in describe_scenario(args, scenario, stats):
        out.append(f"  scenario   {line}")
    for failure in sorted(failures, key=lambda f: -f["occurrences"])[:10]:
        out.append(f"  failure    {failure['occurrences']} × {failure['method']} {failure['name']}: "
                   f"{failure['error']}")
    stopped = (f"exit {server.exit_code}" + (f" {server.stop_seconds:.2f} s after TERM"
                                             if server.stop_seconds is not None else ""))
    log = server.snapshot()
    out.append(f"  server     {stopped}; {log.ever_served} workers served in all; "
               f"{len(verdict['server_errors'])} unexpected error lines, "
               f"{len(verdict['server_warnings'])} warnings in its log")
    for problem in verdict["problems"]:
        out.append(f"  PROBLEM    {problem}")
    out.append(f"  result     {'PASS' if verdict['passed'] else 'FAIL'}; results in {results}")
    return "\n".join(out)
