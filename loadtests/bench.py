"""Throughput benchmark: zerodep-http vs uvicorn + Starlette vs granian + Starlette.

Configuration "1 pinned": each server is pinned to CPU 0, wrk to CPU 1, so the
server gets one whole core and the load generator never steals it.  Rounds are
interleaved so that drift on the machine (thermal, noisy neighbours) spreads
over every server instead of biasing one.  Load goes to 127.0.0.1 only.

Usage: python loadtests/bench.py [--duration 10] [--rounds 3] [--servers ...]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS_DIR = HERE / "peers"
PEER_VENV = HERE / ".venv-peers"
RESULTS_DIR = HERE / "results"
PEER_REQUIREMENTS = ["uvicorn[standard]", "starlette", "granian"]
PEER_VERSIONS = ["uvicorn", "starlette", "granian", "uvloop", "httptools"]

SERVER_CPU, WRK_CPU = "0", "1"
CONNECTIONS = 64
WARMUP_SECONDS = 2
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
ECHO_BODY_SIZE = 1024
ECHO_CONTENT_TYPE = "application/octet-stream"

SERVERS = ["zerodep", "uvicorn", "granian"]
BASELINE = "uvicorn"
ENDPOINTS = ["/hello", "/json", "/echo"]

ECHO_LUA = f"""\
wrk.method = "POST"
wrk.body = string.rep("x", {ECHO_BODY_SIZE})
wrk.headers["Content-Type"] = "{ECHO_CONTENT_TYPE}"
"""


def run_checked(cmd: list[str], timeout: float) -> str:
    """Run a setup command with a hard time limit and fail loudly with its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def ensure_wrk() -> None:
    """Install wrk from Debian if missing, so a fresh machine can run the bench."""
    if shutil.which("wrk"):
        return
    print("installing wrk with apt-get ...", file=sys.stderr)
    run_checked(["apt-get", "update"], timeout=300)
    run_checked(["apt-get", "install", "-y", "wrk"], timeout=300)


def peer_python() -> Path:
    return PEER_VENV / "bin" / "python"


def ensure_peer_venv() -> None:
    """Build the peers' venv once; a marker file tells a finished build from a half one."""
    marker = PEER_VENV / ".bench-ready"
    if marker.exists() and marker.read_text() == " ".join(PEER_REQUIREMENTS):
        return
    print(f"building {PEER_VENV} ...", file=sys.stderr)
    shutil.rmtree(PEER_VENV, ignore_errors=True)
    run_checked([sys.executable, "-m", "venv", str(PEER_VENV)], timeout=120)
    run_checked([str(peer_python()), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], timeout=600)
    marker.write_text(" ".join(PEER_REQUIREMENTS))


def free_port() -> int:
    """Let the kernel pick a free port; the tiny race before the server binds is acceptable."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command(name: str, port: int, args: argparse.Namespace) -> tuple[list[str], Path]:
    """Command line and working directory that start one single-process server."""
    if name == "zerodep":
        module, attr = args.app.split(":")
        code = f"from {module} import {attr}; {attr}.run(host='127.0.0.1', port={port})"
        return [args.python, "-c", code], REPO
    if name == "uvicorn":
        cmd = [str(peer_python()), "-m", "uvicorn", "starlette_app:app",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--loop", "uvloop", "--http", "httptools",
               "--no-access-log", "--log-level", "warning"]
        return cmd, PEERS_DIR
    if name == "granian":
        cmd = [str(PEER_VENV / "bin" / "granian"), "--interface", "asgi",
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--http", "1", "--loop", "uvloop",
               "--runtime-threads", "1", "--blocking-threads", "1",
               "--log-level", "warning", "--no-ws", "starlette_app:app"]
        return cmd, PEERS_DIR
    raise ValueError(name)


def http_request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, str, bytes]:
    """One request on a fresh connection: (status, content-type, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"Content-Type": ECHO_CONTENT_TYPE} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def wait_ready(proc: subprocess.Popen, port: int) -> None:
    """Poll TCP connect + GET /hello: startup time differs a lot between servers."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
            if http_request(port, "GET", "/hello")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready on port {port} after {READY_TIMEOUT}s")


def check_endpoints(port: int) -> None:
    """Refuse to measure a server whose answers differ: fast wrong answers prove nothing."""
    status, ctype, body = http_request(port, "GET", "/hello")
    assert status == 200 and body == b"Hello, World!" and ctype.startswith("text/plain"), (status, ctype, body)
    status, ctype, body = http_request(port, "GET", "/json")
    assert status == 200 and json.loads(body) == {"message": "Hello, World!"}, (status, ctype, body)
    assert ctype.startswith("application/json"), ctype
    payload = b"x" * ECHO_BODY_SIZE
    status, ctype, body = http_request(port, "POST", "/echo", payload)
    assert status == 200 and body == payload and ctype.startswith(ECHO_CONTENT_TYPE), (status, ctype, len(body))


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM then SIGKILL the server's own process group (granian forks a worker)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def running_server(name: str, args: argparse.Namespace, log_dir: Path):
    """Start a pinned server, yield its port once it answers, and always stop it."""
    port = free_port()
    cmd, cwd = server_command(name, port, args)
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, *cmd], cwd=cwd, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        try:
            wait_ready(proc, port)
            check_endpoints(port)
        except (RuntimeError, AssertionError) as exc:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{name}: {exc!r}\n--- server log ---\n{tail}") from exc
        yield port
    finally:
        stop(proc)


_TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _latency_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text).groups()
    return float(value) * _TIME_UNITS_MS[unit]


def parse_wrk(output: str) -> dict:
    """Pull the numbers we report out of wrk's human-readable output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    p50 = _latency_ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _latency_ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": rps, "requests": requests, "p50_ms": p50, "p99_ms": p99, "errors": errors}


def run_wrk(port: int, endpoint: str, seconds: int, lua: Path) -> dict:
    """One pinned wrk run; the subprocess timeout bounds even a hung connection."""
    cmd = ["taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s",
           "--latency", "--timeout", "5s"]
    if endpoint == "/echo":
        cmd += ["-s", str(lua)]
    cmd.append(f"http://127.0.0.1:{port}{endpoint}")
    output = run_checked(cmd, timeout=seconds + 30)
    return parse_wrk(output)


def run_rounds(args: argparse.Namespace, lua: Path, log_dir: Path) -> dict:
    """Interleave: each round runs every server on every endpoint, server order rotating."""
    raw: dict = {s: {e: [] for e in ENDPOINTS} for s in args.servers}
    for rnd in range(args.rounds):
        order = args.servers[rnd % len(args.servers):] + args.servers[:rnd % len(args.servers)]
        for name in order:
            with running_server(name, args, log_dir) as port:
                for endpoint in ENDPOINTS:
                    run_wrk(port, endpoint, WARMUP_SECONDS, lua)
                    result = run_wrk(port, endpoint, args.duration, lua)
                    raw[name][endpoint].append(result)
                    print(f"round {rnd + 1}/{args.rounds} {name:8} {endpoint:6} "
                          f"{result['rps']:>10.0f} req/s  p99 {result['p99_ms']:.2f} ms  "
                          f"errors {result['errors']}", file=sys.stderr)
    return raw


def summarize(raw: dict) -> dict:
    """Median over rounds for each cell; min/max show how much the rounds disagree."""
    summary: dict = {}
    for name, by_endpoint in raw.items():
        for endpoint, runs in by_endpoint.items():
            rps = [r["rps"] for r in runs]
            summary[(name, endpoint)] = {
                "rps": statistics.median(rps), "min": min(rps), "max": max(rps),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
            }
    return summary


def python_version(python: str) -> str:
    return run_checked([python, "-c", "import platform; print(platform.python_version())"], 30).strip()


def machine_info(args: argparse.Namespace) -> dict:
    """What a reader needs to compare two result files."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = run_checked([str(peer_python()), "-c",
                            "import importlib.metadata as m, json, sys; "
                            "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))",
                            *PEER_VERSIONS], 30)
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(), "cpu": cpu,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python_zerodep": python_version(args.python),
        "python_peers": python_version(str(peer_python())),
        "peer_versions": json.loads(versions),
        "config": (f"1 pinned: server on CPU {SERVER_CPU} (taskset), wrk on CPU {WRK_CPU}, "
                   f"wrk -t1 -c{CONNECTIONS} -d{args.duration}s --latency, warmup {WARMUP_SECONDS}s, "
                   f"{args.rounds} interleaved rounds, /echo body {ECHO_BODY_SIZE} B"),
    }


def markdown(summary: dict, servers: list[str], info: dict) -> str:
    """Table per endpoint × server, with each server's ratio to uvicorn on that endpoint."""
    lines = [
        f"# zerodep-http throughput benchmark — {info['date']}", "",
        f"- machine: {info['nproc']} CPUs, {info['cpu']}, load average at start "
        + " ".join(map(str, info["loadavg_at_start"])),
        f"- python: {info['python_zerodep']} (zerodep), {info['python_peers']} (peers)",
        "- peers: " + ", ".join(f"{k} {v}" for k, v in info["peer_versions"].items()),
        f"- config: {info['config']}", "",
        "| endpoint | server | req/s (median) | min–max | p50 ms | p99 ms | errors | × uvicorn |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ENDPOINTS:
        base = summary.get((BASELINE, endpoint))
        for name in servers:
            cell = summary[(name, endpoint)]
            ratio = f"{cell['rps'] / base['rps']:.2f}" if base else "–"
            lines.append(f"| {endpoint} | {name} | {cell['rps']:.0f} | {cell['min']:.0f}–{cell['max']:.0f} | "
                         f"{cell['p50_ms']:.2f} | {cell['p99_ms']:.2f} | {cell['errors']} | {ratio} |")
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=SERVERS)
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"),
                        help="interpreter that runs zerodep-http (default: the project's .venv)")
    parser.add_argument("--app", default="zerodep_http.demo:app",
                        help="module:attribute of the zerodep app to serve (default zerodep_http.demo:app)")
    args = parser.parse_args()
    if args.duration < 1 or args.rounds < 1:
        parser.error("--duration and --rounds must be at least 1")
    if len(os.sched_getaffinity(0)) < 2:
        parser.error("needs two CPUs: one for the server, one for wrk")
    return args


def exit_on_sigterm(signum, frame) -> None:
    """Turn SIGTERM into SystemExit so the `finally` that stops the server still runs."""
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    args = parse_args()
    ensure_wrk()
    ensure_peer_venv()
    info = machine_info(args)
    with tempfile.TemporaryDirectory(prefix="zerodep-bench-") as tmp:
        lua = Path(tmp) / "echo.lua"
        lua.write_text(ECHO_LUA)
        raw = run_rounds(args, lua, Path(tmp))
    table = markdown(summarize(raw), args.servers, info)
    print(table)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M%S")
    (RESULTS_DIR / f"bench-{stamp}.md").write_text(table)
    (RESULTS_DIR / f"bench-{stamp}.json").write_text(json.dumps({"machine": info, "runs": raw}, indent=2))
    print(f"wrote {RESULTS_DIR}/bench-{stamp}.md and .json", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, no results written")
