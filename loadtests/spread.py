"""How evenly the master's workers share the load, per kind of listening socket.

For each socket mode (one SO_REUSEPORT socket per worker, or one socket
shared by all) and each workload, it runs `zerodep-http -w N` under
`wrk -t1 -c64`, counts each worker's established connections halfway
through (`ss`) and the requests each one served (its exit log line), and
prints both with their max/min ratio. Modes and workloads are interleaved
round by round. Loopback only; every run is bounded.

Workloads:
  keepalive  GET /hello on 64 keep-alive connections: CPU-bound, so the
             request shares follow how the kernel schedules the workers.
  io         GET /slow?ms=10 on 64 keep-alive connections: the handler
             waits, so the request shares follow the connection shares.
  churn      GET /hello with `Connection: close`: a new connection for
             every request, so accepting is the work being shared.

Usage: python loadtests/spread.py [--rounds 3] [--duration 4] [--workers 2] [--pin]
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by its path: import through the loadtests package from the
    # repository root, never a sibling script by its bare name.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from loadtests.runner import ROOT, RunError
from loadtests.runner.server import Server

APP = "loadtests.apps.loadapp:app"
#: How long the master may take to stop (its graceful timeout is 2 s).
STOP_TIMEOUT = 15.0
SERVED = re.compile(r"Worker (\d+) exiting: served (\d+) requests?")
WORKLOADS = {
    "keepalive": ("/hello", []),
    "io": ("/slow?ms=10", []),
    "churn": ("/hello", ["-H", "Connection: close"]),
}
MODES = {"reuse-port": "--reuse-port", "shared": "--no-reuse-port"}


def start_server(args: argparse.Namespace, mode: str, log_path: Path) -> Server:
    """The master with its debug log (each worker's served count), all of it
    on CPU 0 with --pin; stopped again if it does not come up."""
    server = Server(APP, args.workers, [MODES[mode], "--log-level", "debug", "--graceful-timeout", "2"],
                    str(log_path.parent / "static"), log_path, verbose=False, python=args.python,
                    cpus="0" if args.pin else None)
    try:
        server.start()
    except RunError as exc:
        server.stop(STOP_TIMEOUT)
        raise SystemExit(f"the server did not start: {exc}") from None
    return server


def connections_per_worker(port: int) -> dict[int, int]:
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    return dict(collections.Counter(int(pid) for pid in re.findall(r"pid=(\d+)", out)))


def measure(args: argparse.Namespace, mode: str, workload: str, tmp: Path) -> dict:
    path, extra = WORKLOADS[workload]
    server = start_server(args, mode, tmp / f"{mode}-{workload}.log")
    port = server.log.port
    wrk = ["wrk", "-t1", "-c64", f"-d{args.duration}s", *extra, f"http://127.0.0.1:{port}{path}"]
    if args.pin:
        wrk = ["taskset", "-c", "1", *wrk]
    load = subprocess.Popen(wrk, stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(args.duration / 2)  # a sample in the middle of the run, not a synchronisation
        connections = connections_per_worker(port)
        output, _ = load.communicate(timeout=args.duration + 30)
    finally:
        if load.poll() is None:
            load.kill()
        server.stop(STOP_TIMEOUT)
    served = {int(pid): int(count) for pid, count in SERVED.findall(server.log_path.read_text())}
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return {"mode": mode, "workload": workload, "connections": connections, "served": served,
            "rps": float(rate.group(1)) if rate else 0.0}


def ratio(values: list[int]) -> str:
    if len(values) < 2 or min(values) == 0:
        return "∞" if values and max(values) else "-"
    return f"{max(values) / min(values):.2f}"


def print_row(round_number: int, result: dict) -> None:
    workload, mode = result["workload"], result["mode"]
    conns = sorted(result["connections"].values(), reverse=True)
    served = sorted(result["served"].values(), reverse=True)
    conns_text = " / ".join(map(str, conns)) if workload != "churn" else "(short-lived)"
    conns_ratio = ratio(conns) if workload != "churn" else "-"
    print(f"| {round_number} | {mode} | {workload} | {conns_text} | {conns_ratio} | "
          f"{' / '.join(map(str, served))} | {ratio(served)} | {result['rps']:,.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=4, help="seconds of load per run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pin", action="store_true",
                        help="all workers on CPU 0, wrk on CPU 1 (they then share one core)")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    args = parser.parse_args()
    for tool in ("wrk", "ss") + (("taskset",) if args.pin else ()):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    print("| round | sockets | workload | connections per worker | max/min | "
          "requests per worker | max/min | requests/s |\n|---|---|---|---|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="zerodep-spread-") as tmp:
        for round_number in range(1, args.rounds + 1):
            for workload in WORKLOADS:
                for mode in MODES:
                    print_row(round_number, measure(args, mode, workload, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
