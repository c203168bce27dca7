"""The Markdown table: per configuration, row × server."""

from __future__ import annotations

import argparse
import math

from .rows import ROWS
from .servers import BASELINE, SERVERS


def _fmt(value: float) -> str:
    """Thousands apart with a space; small values (KiB, ms, MB/s under 100) keep a decimal."""
    if math.isnan(value):
        return "–"
    return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}".replace(",", " ")


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def notes(args: argparse.Namespace) -> list[str]:
    """What each column and row means, for the reader of the table."""
    return [
        ("- value: median over rounds in the row's unit, min–max beside it; p50/p99: medians; "
         "errors: summed over rounds"),
        "- req/s and MB/s rows: wrk; MB/s is requests/s × the body (10^6 bytes a MB)",
        ("- sync handler rows: the same endpoints written as plain functions (`def`), where the "
         "framework runs them in a thread pool or is synchronous itself (WSGI)"),
        ("- Connection: close: a new connection for every request (wrk reconnects); "
         "static file: each server's own static file serving"),
        (f"- idle: {args.idle_connections} keep-alive connections held open after one request each; "
         "the value is the growth of the server's total RSS per connection held (KiB, lower is "
         "better); errors: connections that could not be opened or were closed by the server"),
        (f"- SSE fan-out: {args.sse_streams} streams, one event a second; the value is the p99 of "
         "the delivery times (arrival minus the whole second the event names, ms, lower is "
         "better), p50/p99 columns are the same figures; errors: events not delivered"),
        ("- worker MB: VmRSS of the largest worker process after the measurement "
         "(a master/arbiter is left out); total MB: every process of the server"),
        ("- nginx answers /hello (`return 200`), the static file and idle connections, as the "
         "ceiling of what a web server does on this machine; n/a: the server does not answer that row; "
         "wrong answer: it answered that row's check wrong in every round, so it was not measured "
         "(the raw JSON file says how)"),
        f"- × {BASELINE}: value / uvicorn + Starlette's on the same row and configuration",
    ]


def markdown(summary: dict, args: argparse.Namespace, info: dict, chart: str | None) -> str:
    """Per configuration: a table of row × server, with memory and the ratio to uvicorn."""
    lines = [
        f"# zerodep-http throughput benchmark — {info['date']}", "",
        (f"- machine: {info['nproc']} CPUs, {info['cpu']}, load average at start "
         + " ".join(map(str, info["loadavg_at_start"]))),
        f"- python: {info['python_zerodep']} (zerodep), {info['python_peers']} (peers)",
        "- peers: " + ", ".join(f"{k} {v}" for k, v in info["peer_versions"].items()),
        *notes(args), "",
    ]
    if chart:
        lines += [f"![every row, per server]({chart})", ""]
    for config_name in args.configs:
        lines += [
            f"## {config_name}", "", f"{info['configs'][config_name]}", "",
            ("| row | server | value | unit | min–max | p50 ms | p99 ms | errors | worker MB | total MB "
             f"| × {BASELINE} |"),
            "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name in args.rows:
            row = ROWS[name]
            base = summary.get((config_name, BASELINE, name))
            base = None if base is None or "wrong" in base else base
            for server in args.servers:
                label = SERVERS[server].label
                cell = summary.get((config_name, server, name))
                if cell is None or "wrong" in cell:
                    shown = "n/a" if cell is None else "wrong answer"
                    lines.append("| " + " | ".join([row.label, label, shown, row.unit] + [""] * 7) + " |")
                    continue
                ratio = (f"{cell['value'] / base['value']:.2f}"
                         if base and base["value"] and not math.isnan(base["value"] + cell["value"]) else "–")
                lines.append(
                    f"| {row.label} | {label} | {_fmt(cell['value'])} | {row.unit} | "
                    f"{_fmt(cell['min'])}–{_fmt(cell['max'])} | {_ms(cell['p50_ms'])} | "
                    f"{_ms(cell['p99_ms'])} | {cell['errors']} | "
                    f"{cell['worker_mb']:.1f} | {cell['total_mb']:.1f} | {ratio} |")
        lines.append("")
    return "\n".join(lines)
