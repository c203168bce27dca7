"""WebSockets through a real nginx (Debian's package, installed by .ci/run)
configured as deploy/nginx/nginx.conf says, on loopback in front of a
`zerodep-http` master: the upgrade passes, messages and the server's
keep-alive pings go both ways, plain requests still reach the upstream,
and a drain's 1001 reaches the client."""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest
from supervisor_support import clean_env, serve, wait_until  # noqa: F401
from ws_support import PING, TEXT, RawWebSocket, close, pong, text
from websockets.sync.client import connect

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx not installed (.ci/run installs it)")

DEPLOY_CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "nginx.conf"
CLIENT_ADDR = "127.0.0.2"

APP = '''
import os
from zerodep_http import App

app = App()

@app.get("/who")
async def who(request):
    return f"{os.getpid()} {request.client_addr[0]}"

@app.websocket("/ws")
async def echo(request, ws):
    await ws.send(f"{os.getpid()} {request.client_addr[0]}")
    async for message in ws:
        await ws.send(message)
'''


def free_port() -> int:
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_conf(tmp: Path, front: int, upstream: int) -> str:
    """deploy/nginx/nginx.conf, run from `tmp` on loopback: its own pid and
    logs, one upstream at `upstream`, listening on `front`."""
    conf = DEPLOY_CONF.read_text()
    conf = conf.replace("worker_processes auto;", textwrap.dedent(f"""\
        daemon off;
        worker_processes 1;
        pid {tmp}/nginx.pid;
        error_log {tmp}/nginx-error.log warn;"""))
    conf = re.sub(r"(?m)^(\s*)server 127\.0\.0\.1:8001 .*\n\s*server 127\.0\.0\.1:8002 .*$",
                  rf"\1server 127.0.0.1:{upstream};", conf)
    conf = conf.replace("listen 8080;", f"listen 127.0.0.1:{front};")
    conf = conf.replace("http {", f"http {{\n    access_log off;\n    client_body_temp_path {tmp}/body;"
                                  f"\n    proxy_temp_path {tmp}/proxy;", 1)
    assert f"server 127.0.0.1:{upstream};" in conf and f"127.0.0.1:{front}" in conf
    return conf


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                      source_address=(CLIENT_ADDR, 0))
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def answers(port: int) -> bool:
    try:
        return get(port, "/who")[0] == 200
    except OSError:
        return False


def test_websockets_through_nginx(serve, tmp_path):
    (tmp_path / "wsapp.py").write_text(textwrap.dedent(APP))
    front, upstream = free_port(), free_port()
    server = serve("wsapp:app", "-w", "2", "-b", f"127.0.0.1:{upstream}",
                   "--forwarded-allow-ips", "127.0.0.1", "--ws-ping-interval", "0.3",
                   "--graceful-timeout", "60", env=clean_env()).ready()
    (tmp_path / "nginx.conf").write_text(local_conf(tmp_path, front, upstream))
    log = (tmp_path / "nginx.out").open("wb")
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-e", str(tmp_path / "nginx-error.log"),
                              "-c", str(tmp_path / "nginx.conf")],
                             cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        wait_until(lambda: answers(front), timeout=15, what="nginx to answer")
        status, body = get(front, "/who")
        assert status == 200 and body.split()[1] == CLIENT_ADDR  # X-Forwarded-For believed

        # A library client: messages both ways, compressed or not.
        with connect(f"ws://127.0.0.1:{front}/ws", source_address=(CLIENT_ADDR, 0),
                     open_timeout=10) as ws:
            assert ws.recv(10).split()[1] == CLIENT_ADDR
            for message in ("text", b"\x00binary", "large " * 100_000):
                ws.send(message)
                assert ws.recv(10) == message
        # Plain requests still go with keep-alive, not as upgrades.
        assert get(front, "/who")[0] == 200

        # Frame by frame: the server's pings come through nginx, and its
        # drain's 1001 too.
        client = RawWebSocket(("127.0.0.1", front), "/ws", {"Host": "localhost"})
        try:
            assert client.status == 101
            assert client.read_frame().opcode == TEXT
            for _ in range(2):
                keepalive = client.read_frame()
                assert keepalive.opcode == PING
                client.send(pong(keepalive.payload))
            client.send(text("after the pings"))
            frames = [client.read_frame()]
            while frames[-1].opcode == PING:
                frames.append(client.read_frame())
            assert frames[-1].payload == b"after the pings"
            server.signal(signal.SIGTERM)
            _, closing = client.read_until_close(timeout=30)
            assert closing.close_code == 1001
            client.send(close(1001))
            assert client.at_eof(timeout=30)
        finally:
            client.close()
        assert server.wait(timeout=30) == 0
    finally:
        nginx.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait(10)
        log.close()
