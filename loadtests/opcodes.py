"""Bytecodes executed per request, by function: where the Python time of a
request goes, exactly and without noise.

`instructions.py` counts the machine instructions of a whole request
(callgrind); this counts the interpreter's bytecodes, function by function,
for requests fed straight to a connection (`protocol.HTTPProtocol`) over a
fake transport, on a warm keep-alive connection. It shows which functions
a change on the request path makes cheaper or dearer.

Usage: python loadtests/opcodes.py [/hello|/json|/echo] [--requests 100] [--app MODULE:APP]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zerodep_http.protocol import ConnectionSettings, HTTPProtocol  # noqa: E402

ECHO = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: 1024\r\n\r\n" + b"x" * 1024)


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.responses = 0

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 5000) if name == "peername" else default

    def write(self, data):
        self.responses += data.startswith(b"HTTP/1.1 ")

    def can_write_eof(self):
        return False


class Owner:
    date_line = b"date: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
    draining = False
    requests_served = 0
    max_requests = 0

    def connection_made(self, connection):
        pass

    def connection_closed(self, connection):
        pass

    def on_max_requests(self):
        pass


def count(app, request: bytes, requests: int) -> collections.Counter:
    """Bytecodes per function over `requests` requests (after a warm-up)."""
    counts: collections.Counter = collections.Counter()

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        if event == "opcode":
            code = frame.f_code
            counts[f"{Path(code.co_filename).name}:{code.co_name}"] += 1
        return tracer

    async def scenario() -> None:
        connection = HTTPProtocol(app, ConnectionSettings(), Owner())
        transport = Transport()
        connection.connection_made(transport)
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def feed() -> None:  # from a loop callback, as a socket's bytes arrive
            for _ in range(50):
                connection.data_received(request)
            sys.settrace(tracer)
            for _ in range(requests):
                connection.data_received(request)
            sys.settrace(None)
            done.set_result(None)

        loop.call_soon(feed)
        await done
        if transport.responses != 50 + requests:
            raise SystemExit(f"{transport.responses} responses to {50 + requests} requests: "
                             "a handler that suspends is not counted here")

    asyncio.run(scenario())
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", default="/hello", choices=["/hello", "/json", "/echo"])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--app", default="zerodep_http.demo:app")
    args = parser.parse_args()
    module, _, name = args.app.partition(":")
    app = getattr(importlib.import_module(module), name)
    request = ECHO if args.path == "/echo" else f"GET {args.path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    counts = count(app, request, args.requests)
    for function, executed in counts.most_common():
        print(f"{executed / args.requests:8.1f}  {function}")
    print(f"{sum(counts.values()) / args.requests:8.1f}  bytecodes per request ({args.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
