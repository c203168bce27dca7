"""The Markdown table: per configuration, endpoint × server."""

from __future__ import annotations

import argparse

from .servers import BASELINE, ENDPOINTS, SERVERS


def _fmt(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def markdown(summary: dict, args: argparse.Namespace, info: dict, chart: str | None) -> str:
    """Per configuration: a table of endpoint × server, with memory and the ratio to uvicorn."""
    lines = [
        f"# zerodep-http throughput benchmark — {info['date']}", "",
        (f"- machine: {info['nproc']} CPUs, {info['cpu']}, load average at start "
         + " ".join(map(str, info["loadavg_at_start"]))),
        f"- python: {info['python_zerodep']} (zerodep), {info['python_peers']} (peers)",
        "- peers: " + ", ".join(f"{k} {v}" for k, v in info["peer_versions"].items()),
        ("- req/s: median over rounds, min–max beside it; p50/p99: medians; errors: "
         "non-2xx responses plus socket errors, summed over rounds"),
        ("- worker MB: VmRSS of the largest worker process after the measurement "
         "(a master/arbiter is left out); total MB: every process of the server"),
        ("- nginx answers the plaintext endpoint only, as the ceiling of what a web "
         "server does on this machine"), "",
    ]
    if chart:
        lines += [f"![requests per second, per endpoint and server]({chart})", ""]
    for config_name in args.configs:
        lines += [
            f"## {config_name}", "", f"{info['configs'][config_name]}", "",
            ("| endpoint | server | req/s | min–max | p50 ms | p99 ms | errors | worker MB | total MB "
             f"| × {BASELINE} |"),
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for endpoint in ENDPOINTS:
            base = summary.get((config_name, BASELINE, endpoint))
            for name in args.servers:
                label = SERVERS[name].label
                cell = summary.get((config_name, name, endpoint))
                if cell is None:
                    lines.append("| " + " | ".join([endpoint, label, "n/a"] + [""] * 7) + " |")
                    continue
                ratio = f"{cell['rps'] / base['rps']:.2f}" if base else "–"
                lines.append(
                    f"| {endpoint} | {label} | {_fmt(cell['rps'])} | {_fmt(cell['min'])}–{_fmt(cell['max'])} | "
                    f"{cell['p50_ms']:.2f} | {cell['p99_ms']:.2f} | {cell['errors']} | "
                    f"{cell['worker_mb']:.1f} | {cell['total_mb']:.1f} | {ratio} |")
        lines.append("")
    return "\n".join(lines)
