"""Instructions per request, counted by callgrind: a figure that does not
depend on what else the machine is doing.

Runs the demo app with `app.run()` under `valgrind --tool=callgrind` with
instrumentation off, warms it up with keep-alive requests, switches
counting on (`callgrind_control -i on`) for a fixed number of requests on 8
keep-alive connections, and divides. Needs valgrind (Debian's package).

`--worker` serves the app as a supervisor worker does (the server built
from the default settings), and `--metrics` adds what `--metrics-bind`
adds to a worker: its slot of the shared request counters.

Usage: python loadtests/instructions.py [/hello|/json|/echo] [--requests 2000]
                                        [--worker | --metrics]
"""

from __future__ import annotations

import argparse
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by its path: import through the loadtests package from the
    # repository root, never a sibling script by its bare name.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from loadtests.processes import free_port, start, stop

REPO = Path(__file__).resolve().parent.parent
ECHO = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 1024\r\n\r\n" + b"x" * 1024)
CONTENT_LENGTH = re.compile(rb"content-length: (\d+)", re.IGNORECASE)

APP_RUN = "from zerodep_http.demo import app; app.run(host='127.0.0.1', port={port})"
# What a supervisor worker serves, without the master around it.
WORKER = """
import asyncio
from zerodep_http.config import load_config
from zerodep_http.demo import app
from zerodep_http.listeners import bind_tcp
from zerodep_http.supervisor.metrics import MetricsTable
from zerodep_http.supervisor.worker import build_server

config = load_config([], {{}})
metrics = MetricsTable(config.metrics_buckets).claim() if {metrics} else None

async def serve():
    server = build_server(app, config, metrics=metrics)
    await server.start([bind_tcp("127.0.0.1", {port})])
    await asyncio.Event().wait()

asyncio.run(serve())
"""


def drive(port: int, path: str, count: int, connections: int = 8) -> None:
    """`count` requests over keep-alive connections, each waiting for its answer."""
    request = ECHO if path == "/echo" else f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    sent = done = 0
    for _ in range(min(connections, count)):
        conn = socket.create_connection(("127.0.0.1", port), timeout=30)
        conn.sendall(request)
        sent += 1
        buffers[conn] = b""
        selector.register(conn, selectors.EVENT_READ)
    while done < count:
        for key, _ in selector.select(timeout=30):
            conn = key.fileobj
            data = conn.recv(65536)
            if not data:
                raise SystemExit("the server closed a connection")
            buffers[conn] += data
            while (end := buffers[conn].find(b"\r\n\r\n")) != -1:
                length = int(CONTENT_LENGTH.search(buffers[conn][:end]).group(1))
                if len(buffers[conn]) < end + 4 + length:
                    break
                buffers[conn] = buffers[conn][end + 4 + length:]
                done += 1
                if sent < count:
                    conn.sendall(request)
                    sent += 1
    for conn in buffers:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", default="/hello", choices=["/hello", "/json", "/echo"])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--worker", action="store_true",
                      help="serve as a supervisor worker does (build_server)")
    mode.add_argument("--metrics", action="store_true",
                      help="as --worker, with the shared-memory request metrics on")
    args = parser.parse_args()
    if args.worker or args.metrics:
        code = WORKER.format(port="{port}", metrics=args.metrics)
    else:
        code = APP_RUN
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install valgrind)")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        server = start(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
             args.python, "-c", code.replace("{port}", str(port))],
            cwd=REPO, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120  # valgrind starts Python slowly
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("the server did not start under valgrind") from None
                    time.sleep(0.2)
            drive(port, args.path, 200)  # warm up: imports, caches
            control = ["callgrind_control"]
            subprocess.run([*control, "-i", "on", str(server.pid)], check=True, capture_output=True)
            drive(port, args.path, args.requests)
            subprocess.run([*control, "-d", str(server.pid)], check=True, capture_output=True)
        finally:
            stop(server, 30)
        dump = out.with_name(out.name + ".1")  # what `callgrind_control -d` wrote
        total = re.search(r"^summary: (\d+)", dump.read_text(), re.M) if dump.exists() else None
    if total is None:
        raise SystemExit("callgrind wrote no counts")
    served = "worker with metrics" if args.metrics else "worker" if args.worker else "app.run()"
    print(f"{args.path}: {int(total.group(1)) // args.requests} instructions per request "
          f"({args.requests} requests on warm keep-alive connections, {served})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
