"""A rolling restart behind a real HAProxy loses no request.

HAProxy (from Debian's package, installed by .ci/run) runs on loopback in
front of two `zerodep-http` instances: `a` receives the PROXY protocol v2,
`b` receives X-Forwarded-For. Clients connect from 127.0.0.2, so the address
the app reports proves that it sees the real client and not HAProxy. While
clients keep sending requests, each instance in turn is drained (TERM with a
drain delay, exactly as a deploy does), started again on its port, and then
both are reloaded with HUP. WebSocket clients echo messages through HAProxy
the whole time: a drained instance closes theirs with 1001 Going Away, and
they reconnect at once to whatever serves.
"""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest
from supervisor_support import clean_env, serve, wait_until  # noqa: F401
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

pytestmark = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v haproxy"], capture_output=True).returncode != 0,
    reason="haproxy not installed (.ci/run installs it)")

CLIENT_ADDR = "127.0.0.2"
CHECK_INTERVAL_MS = 200
# Three failed checks take an instance out: one slow answer on a loaded
# machine must not. The drain delay covers those three intervals twice over.
CHECK_FALL = 3
DRAIN_DELAY = 2 * CHECK_FALL * CHECK_INTERVAL_MS / 1000

APP = '''
import os
from zerodep_http import App

app = App()

@app.get("/who")
async def who(request):
    return f"{os.environ['INSTANCE']} {os.getpid()} {request.client_addr[0]} {request.scheme}"

@app.websocket("/ws")
async def echo(request, ws):
    await ws.send(f"{os.environ['INSTANCE']} {os.getpid()} {request.client_addr[0]}")
    async for message in ws:
        await ws.send(message)
'''

HAPROXY_CFG = '''
global
    maxconn 512

defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client 20s
    timeout server 20s
    timeout http-keep-alive 4s
    timeout tunnel 1h
    timeout check 1s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout

frontend web
    bind 127.0.0.1:{front}
    default_backend zerodep

backend zerodep
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz
    http-check expect status 200
    default-server inter {inter}ms fall {fall} rise 1
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    server a 127.0.0.1:{a} send-proxy-v2 check check-send-proxy
    server b 127.0.0.1:{b} check
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Clients(threading.Thread):
    """Keep-alive GETs of /who through HAProxy from CLIENT_ADDR, recording every answer."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.answers: list[str] = []
        self.failures: list[str] = []
        self.running = True

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                          source_address=(CLIENT_ADDR, 0))

    def run(self) -> None:
        conn = self.connect()
        while self.running:
            try:
                conn.request("GET", "/who")
                response = conn.getresponse()
                body = response.read().decode()
                if response.status == 200:
                    self.answers.append(body)
                else:
                    self.failures.append(f"status {response.status}: {body!r}")
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
                conn.close()
                conn = self.connect()
        conn.close()

    def instances_seen(self, since: int = 0) -> set[tuple[str, str]]:
        return {tuple(answer.split()[:2]) for answer in self.answers[since:]}

    def stop(self) -> None:
        self.running = False
        self.join(15)


class WebSocketClient(threading.Thread):
    """A WebSocket through HAProxy from CLIENT_ADDR, echoing one message at
    a time; closed by a draining instance (1001), it reconnects at once."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.greetings: list[str] = []   # "instance pid client" per connection
        self.echoes = 0
        self.going_away = 0
        self.failures: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=10,
                             close_timeout=10, source_address=(CLIENT_ADDR, 0)) as ws:
                    self.greetings.append(ws.recv(10))
                    while not self.stopping.is_set():
                        ws.send(f"echo {self.echoes}")
                        if ws.recv(10) != f"echo {self.echoes}":
                            self.failures.append("a wrong echo")
                        self.echoes += 1
                        self.stopping.wait(0.02)  # a pace, not a synchronisation
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code == 1001:
                    self.going_away += 1
                else:
                    self.failures.append(repr(exc))
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.failures.append(repr(exc))

    def stop(self) -> None:
        self.stopping.set()
        self.join(15)


def start_instance(serve, tmp_path: Path, name: str, port: int, *extra: str):
    server = serve("webapp:app", "-w", "2", "-b", f"127.0.0.1:{port}",
                   "--ready-path", "/readyz", "--drain-delay", str(DRAIN_DELAY),
                   "--forwarded-allow-ips", "127.0.0.1", *extra,
                   env=clean_env(INSTANCE=name))
    return server.ready()


def test_rolling_restart_and_reloads_behind_haproxy(serve, tmp_path):
    (tmp_path / "webapp.py").write_text(textwrap.dedent(APP))
    front, port_a, port_b = free_port(), free_port(), free_port()
    (tmp_path / "haproxy.cfg").write_text(HAPROXY_CFG.format(
        front=front, a=port_a, b=port_b, inter=CHECK_INTERVAL_MS, fall=CHECK_FALL))

    instances = {
        "a": start_instance(serve, tmp_path, "a", port_a, "--proxy-protocol"),
        "b": start_instance(serve, tmp_path, "b", port_b),
    }
    log = (tmp_path / "haproxy.log").open("wb")
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(tmp_path / "haproxy.cfg")],
                               cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    clients = [Clients(front) for _ in range(4)]
    websocket = WebSocketClient(front)
    try:
        wait_until(lambda: _answers(front), timeout=15, what="HAProxy to answer")
        for client in clients:
            client.start()
        websocket.start()
        seen = lambda: set().union(*(c.instances_seen() for c in clients))  # noqa: E731
        wait_until(lambda: {name for name, _ in seen()} == {"a", "b"},
                   timeout=15, what="answers from both instances")

        started = time.monotonic()
        for name, extra in (("a", ("--proxy-protocol",)), ("b", ())):
            old = instances[name]
            old_pids = {pid for n, pid in seen() if n == name}
            old.signal(signal.SIGTERM)
            assert old.wait(30) == 0, old.stderr
            port = port_a if name == "a" else port_b
            instances[name] = start_instance(serve, tmp_path, name, port, *extra)
            wait_until(lambda: {pid for n, pid in seen() if n == name} - old_pids,
                       timeout=15, what=f"the restarted {name} to serve through HAProxy")

        for server in instances.values():
            server.signal(signal.SIGHUP)
        for server in instances.values():
            server.wait_for(r"Reload complete", timeout=30)
        marks = [len(c.answers) for c in clients]
        wait_until(lambda: sum(len(c.answers) for c in clients) > sum(marks) + 100,
                   timeout=15, what="requests after the reloads")
        echoes = websocket.echoes
        wait_until(lambda: websocket.echoes > echoes + 10, timeout=15,
                   what="WebSocket messages after the reloads")
        elapsed = time.monotonic() - started
    finally:
        for client in clients:
            if client.is_alive():
                client.stop()
        websocket.stop()
        haproxy.terminate()
        haproxy.wait(10)

    answers = [answer for client in clients for answer in client.answers]
    failures = [failure for client in clients for failure in client.failures]
    print(f"rolling restart: {len(answers)} requests in {elapsed:.1f} s, "
          f"{len(failures)} failed; {websocket.echoes} WebSocket echoes on "
          f"{len(websocket.greetings)} connections, {websocket.going_away} closed with 1001")
    assert failures == []
    assert websocket.failures == []
    # A drain closed the WebSocket wherever it was: at least at b's TERM
    # (it was on b by then, if not before) and at the reload.
    assert websocket.going_away >= 2
    # Every connection but the last ended with a 1001 (the last one too if
    # the test stopped the client before it reconnected).
    assert websocket.going_away <= len(websocket.greetings) <= websocket.going_away + 1
    assert {tuple(g.split()[::2]) for g in websocket.greetings} <= {("a", CLIENT_ADDR),
                                                                    ("b", CLIENT_ADDR)}
    # The PROXY header (a) and X-Forwarded-For (b) both carry the real client.
    assert {tuple(answer.split()[2:]) for answer in answers} == {(CLIENT_ADDR, "http")}
    assert {answer.split()[0] for answer in answers} == {"a", "b"}
    for server in instances.values():
        assert server.stop() == 0, server.stderr


def _answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/who")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
