"""WebSockets under the master: the drain closes them with 1001 on HUP and
TERM without waiting the graceful timeout, and the `--ws-*` settings reach
the workers."""

from __future__ import annotations

import signal
import textwrap

from supervisor_support import serve  # noqa: F401
from ws_support import PING, TEXT, RawWebSocket, close, text

APP = '''
import logging, os
from zerodep_http import App, WebSocketDisconnect

GENERATION = {generation!r}
app = App()
log = logging.getLogger("zerodep_http.error")

@app.websocket("/ws")
async def hello(request, ws):
    await ws.send(f"{{GENERATION}} {{os.getpid()}}")
    try:
        while True:
            await ws.send(await ws.receive())
    except WebSocketDisconnect as exc:
        log.info("handler saw %d %s", exc.code, exc.reason)
'''

# Far longer than any test waits: a drain that waited for it would fail.
SLOW_DRAIN = ["--graceful-timeout", "120", "--timeout", "10"]


def write_app(directory, generation: str) -> str:
    (directory / "wsapp.py").write_text(textwrap.dedent(APP.format(generation=generation)))
    return "wsapp:app"


def open_websocket(port: int) -> tuple[RawWebSocket, str, int]:
    """A WebSocket to /ws and its greeting: (client, generation, worker pid)."""
    client = RawWebSocket(("127.0.0.1", port), "/ws", timeout=20)
    assert client.status == 101
    greeting = client.read_frame()
    assert greeting.opcode == TEXT
    generation, pid = greeting.payload.decode().split()
    return client, generation, int(pid)


def test_a_reload_closes_100_websockets_with_1001_and_they_reconnect_to_the_new_generation(
        serve, tmp_path):
    server = serve(write_app(tmp_path, "v1"), "-w", "2", "-b", "127.0.0.1:0",
                   *SLOW_DRAIN).ready()
    port = server.port
    clients, old_pids = [], set()
    try:
        for _ in range(100):
            client, generation, pid = open_websocket(port)
            assert generation == "v1"
            clients.append(client)
            old_pids.add(pid)
        write_app(tmp_path, "v2")
        server.signal(signal.SIGHUP)
        reconnected = []
        for client in clients:
            _, closing = client.read_until_close(timeout=30)
            assert closing.close_code == 1001
            client.send(close(1001))
            assert client.at_eof()
            # A worker stops accepting before it says 1001, so the client
            # reconnects to a new one; or, for a moment, to an old sibling
            # that has not yet been told (the master signals them in turn),
            # which then says 1001 too.
            again, generation, pid = open_websocket(port)
            for _ in range(len(old_pids)):
                if generation == "v2":
                    break
                assert pid in old_pids
                _, closing = again.read_until_close(timeout=30)
                assert closing.close_code == 1001
                again.send(close(1001))
                again.close()
                again, generation, pid = open_websocket(port)
            reconnected.append(again)
            assert generation == "v2" and pid not in old_pids
        for client in reconnected:  # and the new ones serve
            client.send(text("still there?"))
            assert client.read_frame().payload == b"still there?"
        # Well within the graceful timeout: nothing waited for it.
        for pid in old_pids:
            server.wait_for(rf"Worker {pid} exited with status 0", timeout=30)
        server.wait_for(r"handler saw 1001 server going away", count=100, timeout=10)
        clients += reconnected
    finally:
        for client in clients:
            client.close()
    assert server.stop(timeout=30) == 0


def test_term_does_not_wait_for_a_client_that_never_answers(serve, tmp_path):
    server = serve(write_app(tmp_path, "v1"), "-w", "1", "-b", "127.0.0.1:0",
                   *SLOW_DRAIN).ready()
    silent, _, _ = open_websocket(server.port)
    try:
        server.signal(signal.SIGTERM)
        _, closing = silent.read_until_close(timeout=30)
        assert closing.close_code == 1001
        # No answer: the worker drops it after the close timeout.
        assert server.wait(timeout=30) == 0
    finally:
        silent.close()
    assert "handler saw 1001 server going away" in server.stderr


def test_the_ws_settings_reach_the_workers(serve, tmp_path):
    server = serve(write_app(tmp_path, "v1"), "-w", "1", "-b", "127.0.0.1:0",
                   "--ws-max-message-size", "100", "--ws-ping-interval", "0.2",
                   "--ws-ping-timeout", "30").ready()
    client, _, _ = open_websocket(server.port)
    try:
        assert client.read_frame().opcode == PING
        client.send(text("x" * 101))
        frames, closing = client.read_until_close()
        assert {f.opcode for f in frames} <= {PING} and closing.close_code == 1009
    finally:
        client.close()
    server.wait_for(r"handler saw 1009")
    assert server.stop() == 0
