"""The contenders: each server's label, the rows it can answer and its
command line. The peers' apps are in loadtests/peers/; zerodep-http serves
loadtests/apps/benchapp.py.

Every server keeps an idle keep-alive connection for 75 s (nginx's default)
where its default is shorter, so that the idle row measures connections held,
not a timeout; busy connections, the only kind wrk makes, never see it."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from pathlib import Path

from . import REPO
from .environment import nginx_binary, peer_bin, peer_python
from .rows import ROWS

PEERS_DIR = REPO / "loadtests" / "peers"
BASELINE = "uvicorn"
KEEP_ALIVE = 75

ALL_ROWS = frozenset(ROWS)
#: The signed-cookie session is measured against Flask's and Starlette's
#: (SessionMiddleware); the other peers' apps have none.
NO_SESSION_ROWS = ALL_ROWS - {"session"}
#: gunicorn's sync and gthread workers cannot hold thousands of idle
#: connections or streams (sync workers do not keep connections alive at all).
WSGI_ROWS = ALL_ROWS - {"idle", "sse"}
#: aiohttp and Sanic have no thread-pool handlers: a plain function runs on the event loop.
ASYNC_ONLY_ROWS = NO_SESSION_ROWS - {"sync-hello", "sync-json"}
NGINX_ROWS = frozenset({"hello", "churn", "static", "idle"})

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile {connections};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{
    worker_connections {connections};
}}
http {{
    access_log off;
    keepalive_requests 1000000;
    sendfile on;
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
        location /static/ {{
            alias {static}/;
        }}
    }}
}}
"""


@dataclasses.dataclass(frozen=True)
class Server:
    """One contender: its label, the rows it answers, how to start it."""

    label: str
    command: Callable[[int, int, argparse.Namespace, Path], list[str]]  # (port, workers, args, tmp)
    cwd: Path
    rows: frozenset[str] = ALL_ROWS


def zerodep_cmd(python: Callable[[argparse.Namespace], str], loop: str):
    """The product's own command line: master plus -w workers, access log off by default."""
    def command(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
        return [python(args), "-m", "zerodep_http", args.app, "-w", str(workers),
                "-b", f"127.0.0.1:{port}", "--loop", loop, "--log-level", "warning",
                "--keep-alive", str(KEEP_ALIVE)]
    return command


def zerodep_hosted_cmd(app: str, interface: str, *extra: str):
    """The same Starlette or Flask app the peers serve, hosted through
    zerodep-http's ASGI or WSGI adapter, on uvloop as uvicorn and granian
    run (the peers' venv holds the project, editable)."""
    def command(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
        return [str(peer_python()), "-m", "zerodep_http", app, "--interface", interface, *extra,
                "-w", str(workers), "-b", f"127.0.0.1:{port}", "--loop", "uvloop",
                "--log-level", "warning", "--keep-alive", str(KEEP_ALIVE)]
    return command


def uvicorn_cmd(app: str):
    def command(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
        return [str(peer_python()), "-m", "uvicorn", app,
                "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--log-level", "warning", "--timeout-keep-alive", str(KEEP_ALIVE)]
    return command


def granian_cmd(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
    """/static is granian's own static file serving, answered before the app.
    A granian worker holds at most --backpressure connections (by default
    1024, its backlog over its workers) and leaves the others unaccepted; it
    gets enough for the idle connections and the SSE streams."""
    return [peer_bin("granian"), "--interface", "asgi",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--http", "1", "--loop", "uvloop",
            "--runtime-threads", "1", "--blocking-threads", "1",
            "--backpressure", str(max(1024, args.idle_connections, args.sse_streams) + 1024),
            "--static-path-route", "/static", "--static-path-mount", str(args.static_dir),
            "--log-level", "warning", "--no-ws", "starlette_app:app"]


def granian_wsgi_cmd(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
    """granian's WSGI interface on the Flask app; its blocking threads run
    the app, as gunicorn's gthread threads do."""
    return [peer_bin("granian"), "--interface", "wsgi",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--http", "1", "--runtime-threads", "1", "--blocking-threads", "4",
            "--backpressure", str(max(1024, args.idle_connections, args.sse_streams) + 1024),
            "--log-level", "warning", "--no-ws", "flask_app:app"]


def gunicorn_cmd(app: str, worker_class: str, *extra: str):
    """gunicorn's access log is off unless --access-logfile is given."""
    def command(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
        return [peer_bin("gunicorn"), app, "--worker-class", worker_class, *extra,
                "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                "--keep-alive", str(KEEP_ALIVE)]
    return command


def sanic_cmd(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
    return [peer_bin("sanic"), "sanic_app:app", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--no-access-logs", "--no-motd"]


def nginx_cmd(port: int, workers: int, args: argparse.Namespace, tmp: Path) -> list[str]:
    """A generated config in a fresh directory: nothing of the system's nginx is used."""
    tmp.mkdir(parents=True, exist_ok=True)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, tmp=tmp, port=port, static=args.static_dir,
                                      connections=max(1024, args.idle_connections + 1024)))
    # -e: the error log from the very start, before the config names its own.
    return [nginx_binary(), "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf)]


SERVERS: dict[str, Server] = {
    "zerodep": Server("zerodep-http", zerodep_cmd(lambda a: a.python, "asyncio"), REPO),
    "zerodep-uvloop": Server("zerodep-http + uvloop", zerodep_cmd(lambda a: str(peer_python()), "uvloop"),
                             REPO),
    "uvicorn": Server("uvicorn + Starlette", uvicorn_cmd("starlette_app:app"), PEERS_DIR),
    "granian": Server("granian + Starlette", granian_cmd, PEERS_DIR),
    "gunicorn-flask": Server("gunicorn + Flask", gunicorn_cmd("flask_app:app", "sync"), PEERS_DIR,
                             WSGI_ROWS),
    "gunicorn-gthread": Server("gunicorn gthread + Flask",
                               gunicorn_cmd("flask_app:app", "gthread", "--threads", "4"), PEERS_DIR,
                               WSGI_ROWS),
    "gunicorn-aiohttp": Server("gunicorn + aiohttp",
                               gunicorn_cmd("aiohttp_app:app", "aiohttp.GunicornUVLoopWebWorker"),
                               PEERS_DIR, ASYNC_ONLY_ROWS),
    "sanic": Server("Sanic", sanic_cmd, PEERS_DIR, ASYNC_ONLY_ROWS),
    "microdot": Server("uvicorn + Microdot", uvicorn_cmd("microdot_app:app"), PEERS_DIR,
                       NO_SESSION_ROWS),
    "bottle": Server("gunicorn + Bottle", gunicorn_cmd("bottle_app:app", "sync"), PEERS_DIR,
                     WSGI_ROWS - {"session"}),
    "nginx": Server("nginx", nginx_cmd, PEERS_DIR, NGINX_ROWS),
    # Hosted applications: the same Starlette app under zerodep-http's ASGI
    # adapter, uvicorn, granian and gunicorn's uvicorn worker; the same Flask
    # app under its WSGI adapter, gunicorn gthread and granian's WSGI.
    "zerodep-asgi": Server("zerodep-http --interface asgi + Starlette",
                           zerodep_hosted_cmd("starlette_app:app", "asgi"), PEERS_DIR),
    "gunicorn-uvicorn": Server("gunicorn uvicorn worker + Starlette",
                               gunicorn_cmd("starlette_app:app", "uvicorn.workers.UvicornWorker"),
                               PEERS_DIR),
    "zerodep-wsgi": Server("zerodep-http --interface wsgi + Flask",
                           zerodep_hosted_cmd("flask_app:app", "wsgi", "--threads", "4"),
                           PEERS_DIR, WSGI_ROWS),
    "granian-wsgi": Server("granian WSGI + Flask", granian_wsgi_cmd, PEERS_DIR, WSGI_ROWS),
}

#: The hosted-application comparison, measured when named with --servers:
#: a default run keeps the table of the framework against its peers.
HOSTED = ("zerodep-asgi", "gunicorn-uvicorn", "zerodep-wsgi", "granian-wsgi")
DEFAULT_SERVERS = [name for name in SERVERS if name not in HOSTED]
