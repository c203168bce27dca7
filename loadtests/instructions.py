"""Instructions per request, counted by callgrind: a figure that does not
depend on what else the machine is doing.

Runs the demo app with `app.run()` under `valgrind --tool=callgrind` with
instrumentation off, warms it up with keep-alive requests, switches
counting on (`callgrind_control -i on`) for a fixed number of requests on 8
keep-alive connections, and divides. Needs valgrind (Debian's package).

`--worker` serves the app as a supervisor worker does (the server built
from the default settings), and `--metrics` adds what `--metrics-bind`
adds to a worker: its slot of the shared request counters.

`--app SPEC` serves another application as a worker does, an ASGI or WSGI
one through its adapter (`--interface`, default auto; the benchmark's
peers: `loadtests.peers.starlette_app:app`, `loadtests.peers.flask_app:app`).
`--alone` counts the same application called directly, as often, with no
server around it (a ready-made scope and receive/send, or environ and
start_response): the application's share of a request, which the
difference to the served count leaves to the server.

Usage: python loadtests/instructions.py [/hello|/json|/echo] [--requests 2000]
                                        [--worker | --metrics | --app SPEC [--alone]]
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
from zerodep_http.binding import bind_tcp
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


# Another application served as a worker serves it (ASGI and WSGI ones
# through their adapter), its lifespan run first.
HOSTED = """
import asyncio, os
os.environ.setdefault("BENCH_STATIC_DIR", os.getcwd())
from zerodep_http.config import load_config
from zerodep_http.binding import bind_tcp
from zerodep_http.supervisor.appload import load_app
from zerodep_http.supervisor.worker import build_server

config = load_config(["--interface", {interface!r}, "--threads", "4"], {{}})
app = load_app({spec!r}, config.interface)

async def serve():
    server = build_server(app, config)
    startup = getattr(server.application, "startup", None)
    if startup is not None:
        await startup()
    await server.start([bind_tcp("127.0.0.1", {port})])
    await asyncio.Event().wait()

asyncio.run(serve())
"""
# The same application with no server: each connection to the port asks
# for as many calls as the number it sends, and gets one byte back once
# they are done. The scope (or environ) is the adapter's for a request
# built by hand, so the application sees what it sees when served.
ALONE = """
import asyncio, io, os, socket
os.environ.setdefault("BENCH_STATIC_DIR", os.getcwd())
from zerodep_http import Request
from zerodep_http.asgi import ASGIApplication
from zerodep_http.config import load_config
from zerodep_http.supervisor.appload import load_app, serve_as
from zerodep_http.wsgi import WSGIApplication

config = load_config(["--interface", {interface!r}], {{}})
app = load_app({spec!r}, config.interface)
adapter = serve_as(app, config)
body = b"x" * 1024 if {path!r} == "/echo" else b""
headers = {{"host": "x", "content-type": "application/octet-stream"}}
if body:
    headers["content-length"] = str(len(body))
request = Request("POST" if body else "GET", {path!r}, "", headers, body)
loop = asyncio.new_event_loop()

if isinstance(adapter, ASGIApplication):
    loop.run_until_complete(adapter.startup())
    template = adapter.http_scope(request)
    message = {{"type": "http.request", "body": body, "more_body": False}}

    async def receive():
        return message

    async def send(message):
        pass

    async def calls(count):
        for _ in range(count):
            scope = dict(template)
            scope["headers"] = list(template["headers"])
            await app(scope, receive, send)

    def run(count):
        loop.run_until_complete(calls(count))
else:
    template = adapter.environ(request)

    def start_response(status, headers, exc_info=None):
        return None

    def run(count):
        for _ in range(count):
            environ = dict(template)
            environ["wsgi.input"] = io.BytesIO(body)
            result = app(environ, start_response)
            try:
                b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

listener = socket.create_server(("127.0.0.1", {port}))
while True:
    connection, _ = listener.accept()
    with connection:
        count = connection.recv(64)
        if count:  # not the probe that waits for the port
            run(int(count))
            connection.sendall(b".")
"""


def call_alone(port: int, count: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=600) as conn:
        conn.sendall(str(count).encode())
        if conn.recv(1) != b".":
            raise SystemExit("the application did not finish its calls")


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
    parser.add_argument("path", nargs="?", default="/hello",
                        choices=["/hello", "/json", "/echo", "/sync/hello", "/sync/json"],
                        help="the /sync/ paths (plain `def` handlers) are the "
                             "benchmark app's: with --app loadtests.apps.benchapp:app")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--worker", action="store_true",
                      help="serve as a supervisor worker does (build_server)")
    mode.add_argument("--metrics", action="store_true",
                      help="as --worker, with the shared-memory request metrics on")
    mode.add_argument("--app", metavar="SPEC",
                      help="serve this application as a worker does (ASGI and WSGI too)")
    parser.add_argument("--interface", default="auto", choices=["auto", "native", "asgi", "wsgi"])
    parser.add_argument("--keep", metavar="FILE", help="keep callgrind's output there")
    parser.add_argument("--alone", action="store_true",
                        help="with --app: call the application without a server")
    args = parser.parse_args()
    if args.alone and not args.app:
        parser.error("--alone needs --app")
    if args.app and args.alone:
        code = ALONE.format(port="{port}", spec=args.app, interface=args.interface, path=args.path)
    elif args.app:
        code = HOSTED.format(port="{port}", spec=args.app, interface=args.interface)
    elif args.worker or args.metrics:
        code = WORKER.format(port="{port}", metrics=args.metrics)
    else:
        code = APP_RUN
    run = call_alone if args.alone else lambda port, count: drive(port, args.path, count)
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
            run(port, 200)  # warm up: imports, caches
            control = ["callgrind_control"]
            subprocess.run([*control, "-i", "on", str(server.pid)], check=True, capture_output=True)
            run(port, args.requests)
            subprocess.run([*control, "-d", str(server.pid)], check=True, capture_output=True)
        finally:
            stop(server, 30)
        dump = out.with_name(out.name + ".1")  # what `callgrind_control -d` wrote
        total = re.search(r"^summary: (\d+)", dump.read_text(), re.M) if dump.exists() else None
        if args.keep and dump.exists():
            shutil.copyfile(dump, args.keep)  # for callgrind_annotate
    if total is None:
        raise SystemExit("callgrind wrote no counts")
    served = ("worker with metrics" if args.metrics else "worker" if args.worker
              else f"{args.app} alone, no server" if args.alone
              else f"{args.app} in a worker" if args.app else "app.run()")
    what = "calls" if args.alone else "requests on warm keep-alive connections"
    print(f"{args.path}: {int(total.group(1)) // args.requests} instructions per request "
          f"({args.requests} {what}, {served})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
