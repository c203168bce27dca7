"""Throughput benchmark: zerodep-http against peer Python servers and nginx.

Every server answers the same three endpoints (GET /hello, GET /json,
POST /echo); wrk measures requests per second and latency, and after each
measurement the resident memory of the server's worker processes is read.

Two configurations:

- "1-pinned": one worker, the whole server pinned to CPU 0 and wrk to CPU 1,
  so the server gets one whole core and the load generator never steals it.
- "2-workers": two worker processes wherever the server has workers, nothing
  pinned, wrk with two threads: the whole machine shared, as in production.

Rounds are interleaved so that drift on the machine (thermal, noisy
neighbours) spreads over every server instead of biasing one.  Load goes to
127.0.0.1 only.

Usage: python loadtests/bench.py [--duration 10] [--rounds 3] [--servers ...]
                                 [--configs ...] [--publish]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by its path: import through the loadtests package from the
    # repository root, never a sibling script by its bare name.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from loadtests.processes import free_port, pinned, session_processes, start, stop

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS_DIR = HERE / "peers"
PEER_VENV = HERE / ".venv-peers"
RESULTS_DIR = HERE / "results"
DOCS_DIR = REPO / "docs"
# The peers live in their own venv, never in the project's; so does uvloop,
# and the project itself is installed there (editable) for zerodep-uvloop.
PEER_REQUIREMENTS = ["uvicorn[standard]", "starlette", "granian", "uvloop", "gunicorn", "flask",
                     "aiohttp", "sanic", "microdot", "bottle"]
PEER_EDITABLE = [REPO]
PEER_VERSIONS = ["uvicorn", "starlette", "granian", "uvloop", "httptools", "gunicorn", "flask",
                 "aiohttp", "sanic", "microdot", "bottle"]

CONNECTIONS = 64
WARMUP_SECONDS = 2
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
ECHO_BODY_SIZE = 1024
ECHO_CONTENT_TYPE = "application/octet-stream"

ENDPOINTS = ["/hello", "/json", "/echo"]
BASELINE = "uvicorn"

ECHO_LUA = f"""\
wrk.method = "POST"
wrk.body = string.rep("x", {ECHO_BODY_SIZE})
wrk.headers["Content-Type"] = "{ECHO_CONTENT_TYPE}"
"""

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /hello {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
}}
"""


@dataclasses.dataclass(frozen=True)
class Config:
    """How many workers each server gets and where server and wrk may run."""

    name: str
    title: str
    workers: int
    server_cpus: str | None  # taskset CPU list for the server, None = unpinned
    wrk_cpus: str | None
    wrk_threads: int

    def describe(self, args: argparse.Namespace) -> str:
        where = (f"server on CPU {self.server_cpus} (taskset), wrk on CPU {self.wrk_cpus}"
                 if self.server_cpus else "server and wrk unpinned, sharing every CPU")
        return (f"{self.workers} worker(s); {where}; wrk -t{self.wrk_threads} -c{CONNECTIONS} "
                f"-d{args.duration}s --latency after a {WARMUP_SECONDS}s warmup; "
                f"{args.rounds} interleaved round(s); /echo body {ECHO_BODY_SIZE} B")


CONFIGS = {
    "1-pinned": Config("1-pinned", "1 worker pinned to CPU 0, wrk -t1 on CPU 1",
                       workers=1, server_cpus="0", wrk_cpus="1", wrk_threads=1),
    "2-workers": Config("2-workers", "2 workers, nothing pinned, wrk -t2 on the same CPUs",
                        workers=2, server_cpus=None, wrk_cpus=None, wrk_threads=2),
}


@dataclasses.dataclass(frozen=True)
class Server:
    """One contender: its label, the endpoints it serves, how to start it."""

    label: str
    command: Callable[[int, int, argparse.Namespace, Path], list[str]]  # (port, workers, args, tmp)
    cwd: Path
    endpoints: tuple[str, ...] = tuple(ENDPOINTS)


def peer_bin(name: str) -> str:
    return str(PEER_VENV / "bin" / name)


def peer_python() -> Path:
    return PEER_VENV / "bin" / "python"


def zerodep_cmd(python: Callable[[argparse.Namespace], str], loop: str):
    """The product's own command line: master plus -w workers, access log off by default."""
    def command(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
        return [python(args), "-m", "zerodep_http", args.app, "-w", str(workers),
                "-b", f"127.0.0.1:{port}", "--loop", loop, "--log-level", "warning"]
    return command


def uvicorn_cmd(app: str):
    def command(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
        return [str(peer_python()), "-m", "uvicorn", app,
                "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--log-level", "warning"]
    return command


def granian_cmd(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
    return [peer_bin("granian"), "--interface", "asgi",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--http", "1", "--loop", "uvloop",
            "--runtime-threads", "1", "--blocking-threads", "1",
            "--log-level", "warning", "--no-ws", "starlette_app:app"]


def gunicorn_cmd(app: str, worker_class: str):
    """gunicorn's access log is off unless --access-logfile is given."""
    def command(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
        return [peer_bin("gunicorn"), app, "--worker-class", worker_class,
                "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    return command


def sanic_cmd(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
    return [peer_bin("sanic"), "sanic_app:app", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--no-access-logs", "--no-motd"]


def nginx_cmd(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
    """A generated config in a fresh directory: nothing of the system's nginx is used."""
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, tmp=tmp, port=port))
    # -e: the error log from the very start, before the config names its own.
    return [nginx_binary(), "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf)]


SERVERS: dict[str, Server] = {
    "zerodep": Server("zerodep-http", zerodep_cmd(lambda a: a.python, "asyncio"), REPO),
    "zerodep-uvloop": Server("zerodep-http + uvloop", zerodep_cmd(lambda a: str(peer_python()), "uvloop"),
                             REPO),
    "uvicorn": Server("uvicorn + Starlette", uvicorn_cmd("starlette_app:app"), PEERS_DIR),
    "granian": Server("granian + Starlette", granian_cmd, PEERS_DIR),
    "gunicorn-flask": Server("gunicorn + Flask", gunicorn_cmd("flask_app:app", "sync"), PEERS_DIR),
    "gunicorn-aiohttp": Server("gunicorn + aiohttp",
                               gunicorn_cmd("aiohttp_app:app", "aiohttp.GunicornUVLoopWebWorker"),
                               PEERS_DIR),
    "sanic": Server("Sanic", sanic_cmd, PEERS_DIR),
    "microdot": Server("uvicorn + Microdot", uvicorn_cmd("microdot_app:app"), PEERS_DIR),
    "bottle": Server("gunicorn + Bottle", gunicorn_cmd("bottle_app:app", "sync"), PEERS_DIR),
    "nginx": Server("nginx (return 200)", nginx_cmd, PEERS_DIR, endpoints=("/hello",)),
}


def run_checked(cmd: list[str], timeout: float) -> str:
    """Run a setup command with a hard time limit and fail loudly with its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def apt_install(package: str) -> None:
    print(f"installing {package} with apt-get ...", file=sys.stderr)
    run_checked(["apt-get", "update"], timeout=300)
    run_checked(["apt-get", "install", "-y", package], timeout=300)


def ensure_wrk() -> None:
    """Install wrk from Debian if missing, so a fresh machine can run the bench."""
    if not shutil.which("wrk"):
        apt_install("wrk")


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def ensure_nginx() -> None:
    """Debian's nginx, only for its binary: the bench runs it with its own config."""
    if not Path(nginx_binary()).exists():
        apt_install("nginx")


def peer_venv_spec() -> str:
    return "\n".join([*PEER_REQUIREMENTS, *(f"-e {path}" for path in PEER_EDITABLE)])


def ensure_peer_venv() -> None:
    """Build or extend the peers' venv; the marker names what a finished install holds.

    A marker that differs from the wanted list (a half install, or a
    requirement added since) reruns pip over the whole list, which adds what
    is missing; the venv is recreated only when its interpreter is gone.
    """
    marker = PEER_VENV / ".bench-ready"
    wanted = peer_venv_spec()
    if marker.exists() and marker.read_text() == wanted:
        return
    print(f"installing the peers into {PEER_VENV} ...", file=sys.stderr)
    working = peer_python().exists() and subprocess.run(
        [str(peer_python()), "-c", "pass"], capture_output=True, timeout=60, check=False).returncode == 0
    if not working:
        shutil.rmtree(PEER_VENV, ignore_errors=True)
        run_checked([sys.executable, "-m", "venv", str(PEER_VENV)], timeout=120)
    marker.unlink(missing_ok=True)
    editable = [arg for path in PEER_EDITABLE for arg in ("-e", str(path))]
    run_checked([str(peer_python()), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS, *editable],
                timeout=900)
    marker.write_text(wanted)


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


def check_endpoints(port: int, endpoints: tuple[str, ...]) -> None:
    """Refuse to measure a server whose answers differ: fast wrong answers prove nothing."""
    status, ctype, body = http_request(port, "GET", "/hello")
    assert status == 200 and body == b"Hello, World!" and ctype.startswith("text/plain"), (status, ctype, body)
    if "/json" in endpoints:
        status, ctype, body = http_request(port, "GET", "/json")
        assert status == 200 and json.loads(body) == {"message": "Hello, World!"}, (status, ctype, body)
        assert ctype.startswith("application/json"), ctype
    if "/echo" in endpoints:
        payload = b"x" * ECHO_BODY_SIZE
        status, ctype, body = http_request(port, "POST", "/echo", payload)
        assert status == 200 and body == payload, (status, ctype, len(body))
        assert ctype.startswith(ECHO_CONTENT_TYPE), ctype


def vm_rss_kib(pid: int) -> int | None:
    try:
        status = Path("/proc", str(pid), "status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


def measure_memory(sid: int) -> dict:
    """VmRSS of the server's processes: `worker_mb` is the largest process
    without children in the tree (the workers; a master or arbiter has the
    workers as children and is left out), `total_mb` sums every process."""
    tree = session_processes(sid)
    parents = set(tree.values())
    rss = {pid: kib for pid in tree if (kib := vm_rss_kib(pid)) is not None}
    leaves = [kib for pid, kib in rss.items() if pid not in parents] or list(rss.values()) or [0]
    return {"worker_mb": max(leaves) / 1024, "total_mb": sum(rss.values()) / 1024,
            "processes": len(rss)}


COMMANDS: dict[str, dict[str, list[str]]] = {}  # configuration -> server -> last command line


@contextlib.contextmanager
def running_server(name: str, config: Config, args: argparse.Namespace, tmp: Path):
    """Start a server in its own session, yield (port, pid) once it answers right; always stop it."""
    server = SERVERS[name]
    port = free_port()
    cmd = server.command(port, config.workers, args, tmp / f"{name}-{config.name}-{port}")
    COMMANDS.setdefault(config.name, {})[name] = pinned(config.server_cpus, cmd)
    log_path = tmp / f"{name}-{config.name}.log"
    with open(log_path, "wb") as log:
        proc = start(pinned(config.server_cpus, cmd), cwd=server.cwd, stdout=log)
    try:
        try:
            wait_ready(proc, port)
            check_endpoints(port, server.endpoints)
        except (RuntimeError, AssertionError, OSError, ValueError) as exc:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{name} ({config.name}): {exc!r}\n$ {' '.join(cmd)}\n"
                             f"--- server log ---\n{tail}") from exc
        yield port, proc.pid
    finally:
        stop(proc, STOP_TIMEOUT)


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


def python_version(python: str) -> str:
    return run_checked([python, "-c", "import platform; print(platform.python_version())"], 30).strip()


def nginx_version() -> str:
    proc = subprocess.run([nginx_binary(), "-v"], capture_output=True, text=True, timeout=30, check=False)
    return proc.stderr.strip().rpartition("/")[2] or "?"


def machine_info(args: argparse.Namespace) -> dict:
    """What a reader needs to compare two result files."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    versions = json.loads(run_checked(
        [str(peer_python()), "-c",
         ("import importlib.metadata as m, json, sys; "
          "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"),
         *PEER_VERSIONS], 30))
    if "nginx" in args.servers:
        versions["nginx"] = nginx_version()
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(), "cpu": cpu,
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "python_zerodep": python_version(args.python),
        "python_peers": python_version(str(peer_python())),
        "peer_versions": versions,
        "configs": {c: CONFIGS[c].describe(args) for c in args.configs},
    }


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


def plot(summary: dict, args: argparse.Namespace, info: dict, path: Path) -> None:
    """Grouped bars: requests/s per endpoint and server, one panel per configuration,
    error bars spanning the rounds' min–max."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("the chart needs matplotlib: pip install -e '.[load]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    servers = args.servers
    fig, axes = plt.subplots(len(args.configs), 1, figsize=(12, 1.2 + 3.8 * len(args.configs)),
                             squeeze=False, layout="constrained")
    width = 0.84 / len(servers)
    colors = plt.get_cmap("tab10")
    for ax, config_name in zip(axes[:, 0], args.configs):
        for i, name in enumerate(servers):
            xs, heights, low, high = [], [], [], []
            for j, endpoint in enumerate(ENDPOINTS):
                x = j - 0.42 + width * (i + 0.5)
                cell = summary.get((config_name, name, endpoint))
                if cell is None:
                    ax.text(x, 0, " n/a", rotation=90, ha="center", va="bottom", fontsize=7, color="grey")
                    continue
                xs.append(x)
                heights.append(cell["rps"])
                low.append(cell["rps"] - cell["min"])
                high.append(cell["max"] - cell["rps"])
            ax.bar(xs, heights, width, yerr=[low, high], capsize=2, label=SERVERS[name].label,
                   color=colors(i % 10), error_kw={"elinewidth": 0.8})
        ax.set_xticks(range(len(ENDPOINTS)), ["GET /hello", "GET /json", f"POST /echo ({ECHO_BODY_SIZE} B)"])
        ax.set_ylabel("requests/s")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}".replace(",", " ")))
        ax.set_title(f"{config_name}: {CONFIGS[config_name].title}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(servers), 5), fontsize=8,
               frameon=False)
    fig.suptitle(f"zerodep-http vs peers: median requests/s of {args.rounds} round(s), min–max bars "
                 f"({info['nproc']} CPUs, {info['date'][:10]})", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, no results written")
