"""One server started in a session of its own, its answers checked before
it is measured, and stopped again whatever happens."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import time
from pathlib import Path

from ..processes import free_port, pinned, start, stop
from .checks import http_request, wrong_rows
from .configs import Config
from .servers import SERVERS

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0

COMMANDS: dict[str, dict[str, list[str]]] = {}  # configuration -> server -> last command line


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


def rows_served(name: str, rows: list[str]) -> list[str]:
    """The rows of `rows` that server `name` answers, in table order."""
    return [row for row in rows if row in SERVERS[name].rows]


@contextlib.contextmanager
def running_server(name: str, config: Config, args: argparse.Namespace, tmp: Path, rows: list[str]):
    """Start a server in its own session, yield (port, pid, wrong) once it
    answers, `wrong` holding the rows of `rows` it answers wrong (and what
    was wrong); always stop it."""
    server = SERVERS[name]
    port = free_port()
    cmd = server.command(port, config.workers, args, tmp / f"{name}-{config.name}-{port}")
    COMMANDS.setdefault(config.name, {})[name] = pinned(config.server_cpus, cmd)
    log_path = tmp / f"{name}-{config.name}.log"
    env = {**os.environ, "BENCH_STATIC_DIR": str(args.static_dir)}
    with open(log_path, "wb") as log:
        proc = start(pinned(config.server_cpus, cmd), cwd=server.cwd, env=env, stdout=log)
    try:
        try:
            wait_ready(proc, port)
            wrong = wrong_rows(port, rows)
        except (RuntimeError, OSError, ValueError) as exc:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{name} ({config.name}): {exc!r}\n$ {' '.join(cmd)}\n"
                             f"--- server log ---\n{tail}") from exc
        yield port, proc.pid, wrong
    finally:
        stop(proc, STOP_TIMEOUT)
