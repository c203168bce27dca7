"""Running wrk against one endpoint and reading the numbers out of its output."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..processes import pinned
from .environment import run_checked

if TYPE_CHECKING:
    from .configs import Config

CONNECTIONS = 64
WARMUP_SECONDS = 2
ECHO_BODY_SIZE = 1024
ECHO_CONTENT_TYPE = "application/octet-stream"

ECHO_LUA = f"""\
wrk.method = "POST"
wrk.body = string.rep("x", {ECHO_BODY_SIZE})
wrk.headers["Content-Type"] = "{ECHO_CONTENT_TYPE}"
"""

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


def run_wrk(port: int, endpoint: str, seconds: int, lua: Path, config: Config) -> dict:
    """One wrk run; the subprocess timeout bounds even a hung connection."""
    cmd = ["wrk", f"-t{config.wrk_threads}", f"-c{CONNECTIONS}", f"-d{seconds}s",
           "--latency", "--timeout", "5s"]
    if endpoint == "/echo":
        cmd += ["-s", str(lua)]
    cmd.append(f"http://127.0.0.1:{port}{endpoint}")
    output = run_checked(pinned(config.wrk_cpus, cmd), timeout=seconds + 30)
    return parse_wrk(output)
