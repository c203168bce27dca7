"""One server started in a session of its own, its answers checked before
it is measured, and stopped again whatever happens."""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import socket
import subprocess
import time
from pathlib import Path

from ..processes import free_port, pinned, start, stop
from .configs import Config
from .servers import SERVERS
from .wrk import ECHO_BODY_SIZE, ECHO_CONTENT_TYPE

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


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
