"""Running wrk against one row's request and reading the numbers out of its output."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..processes import pinned
from .environment import run_checked

if TYPE_CHECKING:
    from .configs import Config
    from .rows import Row

CONNECTIONS = 64

_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _latency_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()
    return float(value) * _TIME_UNITS_MS[unit]


def parse_wrk(output: str) -> dict:
    """Pull the numbers we report out of wrk's human-readable output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    p50 = _latency_ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE).group(1))
    p99 = _latency_ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": rps, "requests": requests, "p50_ms": p50, "p99_ms": p99, "errors": errors}


def wrk_command(port: int, row: Row, seconds: float, script: Path | None, config: Config) -> list[str]:
    cmd = ["wrk", f"-t{config.wrk_threads}", f"-c{CONNECTIONS}", f"-d{seconds}s",
           "--latency", "--timeout", "5s"]
    if script is not None:
        cmd += ["-s", str(script)]
    if row.close:
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://127.0.0.1:{port}{row.path}")
    return pinned(config.wrk_cpus, cmd)


def run_wrk(port: int, row: Row, seconds: float, script: Path | None, config: Config) -> dict:
    """One wrk run; the subprocess timeout bounds even a hung connection. A
    row that moves a large body also gets its rate in MB/s (10^6 bytes)."""
    result = parse_wrk(run_checked(wrk_command(port, row, seconds, script, config), timeout=seconds + 30))
    result["value"] = result["rps"] * row.payload / 1e6 if row.payload else result["rps"]
    return result
