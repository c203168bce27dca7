"""WebSocket routes served for real: `@app.websocket`, the handshake through
App.handle, the `WebSocket` API, keep-alive, backpressure and the drain.

The clients are the `websockets` library's (sync client, in the test's
thread), wsproto over a plain socket, and `RawWebSocket` for what a polite
client never does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import struct
import threading

import pytest
import wsproto
import wsproto.events as wsp
from wsproto.connection import ConnectionState
from conftest import WAIT, ServerThread, connection_refused, wait_for
from ws_support import (
    PING, PONG, TEXT, RawWebSocket, close, frame, handshake_request, ping, pong, text)
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from zerodep_http import App, Response, WebSocketDisconnect, abort

KEY = "dGhlIHNhbXBsZSBub25jZQ=="


class Recorder:
    """What handlers saw, readable from the test's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list = []

    def add(self, item) -> None:
        with self.lock:
            self.items.append(item)

    def __contains__(self, item) -> bool:
        with self.lock:
            return item in self.items

    def of(self, kind: str) -> list:
        with self.lock:
            return [item[1:] for item in self.items if item[0] == kind]


def make_app(seen: Recorder, **options) -> App:
    app = App(**options)

    @app.websocket("/echo")
    async def echo(request, ws):
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            seen.add(("echo ended",))

    @app.websocket("/room/<room>/<int:seat>")
    async def room(request, ws, room, seat):
        await ws.send(f"{room}:{seat}")
        try:
            await ws.receive()
        except WebSocketDisconnect as exc:
            seen.add(("disconnect", exc.code, exc.reason))

    @app.websocket("/proto")
    async def proto(request, ws):
        chosen = next((p for p in ("chat.v2", "chat.v1") if p in ws.subprotocols), None)
        await ws.accept(subprotocol=chosen, headers={"x-room": "lobby"})
        await ws.send(f"offered {','.join(ws.subprotocols)}; chose {ws.subprotocol}")
        await ws.receive()

    @app.websocket("/refuse")
    async def refuse(request, ws):
        seen.add(("refused",))

    @app.websocket("/close-early")
    async def close_early(request, ws):
        await ws.close()

    @app.websocket("/abort")
    async def aborted(request, ws):
        abort(401, "who are you")

    @app.websocket("/crash-early")
    async def crash_early(request, ws):
        raise RuntimeError("boom before the handshake")

    @app.websocket("/crash-late")
    async def crash_late(request, ws):
        await ws.send("about to fail")
        raise RuntimeError("boom after the handshake")

    @app.websocket("/close")
    async def closing(request, ws):
        await ws.accept()
        await ws.close(4000, "bye")
        try:
            await ws.send("too late")
        except WebSocketDisconnect as exc:
            seen.add(("send after close", exc.code, exc.reason))

    @app.websocket("/json")
    async def json_echo(request, ws):
        try:
            while True:
                await ws.send_json({"got": await ws.receive_json()})
        except WebSocketDisconnect as exc:
            seen.add(("json", exc.code, exc.reason))

    @app.websocket("/returns")
    async def returns(request, ws):
        await ws.send("one message, then the handler returns")

    @app.get("/page")
    async def page(request):
        return "a page"

    return app


@pytest.fixture
def seen():
    return Recorder()


@pytest.fixture
def server(serve, seen):
    return serve(make_app(seen))


def url(server: ServerThread, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


# -- the handshake ----------------------------------------------------------------


def test_echo_of_text_and_binary_messages(server, seen):
    with connect(url(server, "/echo")) as ws:
        ws.send("hello")
        assert ws.recv(WAIT) == "hello"
        ws.send(b"\x00\xffbinary")
        assert ws.recv(WAIT) == b"\x00\xffbinary"
        big = "é" * 300_000  # fragmented by the client, larger than a read
        ws.send(big)
        assert ws.recv(WAIT) == big
    assert ws.close_code == 1000
    wait_for(lambda: ("echo ended",) in seen, message="the handler to end")


def test_the_101_response(server):
    client = RawWebSocket(server.address, "/proto",
                          {"Sec-WebSocket-Protocol": "chat.v1, chat.v2"})
    try:
        assert client.status == 101
        expected = base64.b64encode(hashlib.sha1(
            (KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert client.head["sec-websocket-accept"] == expected
        assert client.head["upgrade"].lower() == "websocket"
        assert client.head["connection"].lower() == "upgrade"
        assert client.head["sec-websocket-protocol"] == "chat.v2"
        assert client.head["x-room"] == "lobby"
        assert "content-length" not in client.head and "content-type" not in client.head
        message = client.read_frame()
        assert (message.opcode, message.payload) == (TEXT, b"offered chat.v1,chat.v2; chose chat.v2")
    finally:
        client.close()


def test_path_parameters_and_the_subprotocol_seen_by_a_library_client(server, seen):
    with connect(url(server, "/room/lobby/7")) as ws:
        assert ws.recv(WAIT) == "lobby:7"
        ws.close(4001, "leaving")
    wait_for(lambda: seen.of("disconnect"), message="the handler to see the close")
    assert seen.of("disconnect") == [(4001, "leaving")]
    with connect(url(server, "/proto"), subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v1"
        assert ws.recv(WAIT) == "offered chat.v1; chose chat.v1"


def test_permessage_deflate_is_accepted_with_small_windows(server):
    with connect(url(server, "/echo")) as ws:  # websockets offers permessage-deflate
        extensions = ws.response.headers["Sec-WebSocket-Extensions"]
        assert extensions.startswith("permessage-deflate")
        assert "server_max_window_bits=12" in extensions
        message = "compress me " * 50_000
        ws.send(message)
        assert ws.recv(WAIT) == message


@pytest.mark.parametrize(("path", "headers", "status", "field"), [
    # A plain GET: no upgrade asked for.
    ("/echo", {"Upgrade": None, "Connection": None, "Sec-WebSocket-Key": None,
               "Sec-WebSocket-Version": None}, 426, ("upgrade", "websocket")),
    ("/echo", {"Sec-WebSocket-Version": "8"}, 426, ("sec-websocket-version", "13")),
    ("/echo", {"Sec-WebSocket-Key": "c2hvcnQ="}, 400, None),
    ("/echo", {"Connection": "keep-alive"}, 400, None),
    ("/nowhere", {}, 404, None),
])
def test_handshake_refusals(server, raw_client, path, headers, status, field):
    client = raw_client(server)
    client.send(handshake_request(path, headers))
    response = client.read_response("GET")
    assert response.status == status
    if field is not None:
        assert response.header(field[0]) == field[1]
    # Refused: still HTTP, and the connection serves the next request.
    assert client.request("GET", "/page").text == "a page"


def test_a_websocket_route_answers_other_methods_with_405(server, raw_client):
    response = raw_client(server).request("POST", "/echo", body=b"")
    assert response.status == 405
    assert response.header("allow") == "GET, HEAD, OPTIONS"


@pytest.mark.parametrize(("path", "status"), [
    ("/refuse", 403), ("/close-early", 403), ("/abort", 401), ("/crash-early", 500),
])
def test_a_handler_may_refuse_before_accepting(server, seen, path, status):
    with pytest.raises(InvalidStatus) as refused:
        connect(url(server, path), open_timeout=WAIT)
    assert refused.value.response.status_code == status


def test_error_handlers_shape_a_refusal(serve):
    app = App()

    @app.errorhandler(403)
    async def forbidden(request, exc):
        return Response("custom forbidden", 403, {"x-why": "policy"})

    @app.websocket("/ws")
    async def refuse(request, ws):
        pass

    server = serve(app)
    client = RawWebSocket(server.address, "/ws")
    try:
        assert client.status == 403
        assert client.head["x-why"] == "policy"
    finally:
        client.close()


def test_before_request_hooks_run_first_and_may_refuse(serve):
    app = App()
    handled = []

    @app.before_request
    async def check_token(request):
        if request.query_params.get("token") != ["secret"]:
            return "no token", 401

    @app.websocket("/ws")
    async def handler(request, ws):
        handled.append(request.query_string)
        await ws.send("in")

    server = serve(app)
    with pytest.raises(InvalidStatus) as refused:
        connect(url(server, "/ws"), open_timeout=WAIT)
    assert refused.value.response.status_code == 401
    assert handled == []
    with connect(url(server, "/ws?token=secret")) as ws:
        assert ws.recv(WAIT) == "in"
    assert handled == ["token=secret"]


def test_cross_site_handshakes_are_refused(serve):
    app = App(websocket_origins=["https://chat.example"])

    @app.websocket("/ws")
    async def handler(request, ws):
        await ws.send("welcome")

    server = serve(app)
    for origin, status in (("https://chat.example", 101), ("https://CHAT.example", 101),
                           ("https://evil.example", 403), ("null", 403), (None, 101)):
        client = RawWebSocket(server.address, "/ws", {"Origin": origin})
        try:
            assert client.status == status, origin
        finally:
            client.close()


def test_websocket_origins_is_a_list():
    with pytest.raises(TypeError):
        App(websocket_origins="https://chat.example")


def test_registration_refuses_what_cannot_work():
    app = App()
    with pytest.raises(TypeError, match="async"):
        @app.websocket("/sync")
        def sync_handler(request, ws):
            pass

    @app.websocket("/ws")
    async def handler(request, ws):
        pass

    with pytest.raises(ValueError, match="already routed"):
        @app.get("/ws")
        async def page(request):
            pass


# -- messages and closing -----------------------------------------------------------


def test_json_messages(server, seen):
    with connect(url(server, "/json")) as ws:
        ws.send(json.dumps({"a": [1, "é"]}))
        assert json.loads(ws.recv(WAIT)) == {"got": {"a": [1, "é"]}}
        ws.send("{not json")
        with pytest.raises(ConnectionClosed):
            ws.recv(WAIT)
    assert ws.close_code == 1007
    wait_for(lambda: seen.of("json"), message="the handler to see the close")
    assert seen.of("json") == [(1007, "message is not valid JSON")]


def test_close_with_a_code_and_reason(server, seen):
    with connect(url(server, "/close")) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(WAIT)
    assert (ws.close_code, ws.close_reason) == (4000, "bye")
    wait_for(lambda: seen.of("send after close"), message="the send after close")
    assert seen.of("send after close") == [(4000, "bye")]


def test_a_handler_that_returns_closes_with_1000(server):
    with connect(url(server, "/returns")) as ws:
        assert ws.recv(WAIT) == "one message, then the handler returns"
        with pytest.raises(ConnectionClosed):
            ws.recv(WAIT)
    assert ws.close_code == 1000


def test_a_handler_that_raises_closes_with_1011_and_is_logged(server, caplog):
    with connect(url(server, "/crash-late")) as ws:
        assert ws.recv(WAIT) == "about to fail"
        with pytest.raises(ConnectionClosed):
            ws.recv(WAIT)
    assert ws.close_code == 1011
    wait_for(lambda: any("boom after the handshake" in str(r.exc_info) for r in caplog.records),
             message="the traceback in the log")


def test_frames_sent_right_behind_the_handshake_are_read(server):
    client = RawWebSocket(server.address, "/echo", extra=text("early"))
    try:
        assert client.status == 101
        assert client.read_frame().payload == b"early"
    finally:
        client.close()


def test_pings_are_answered_and_bad_frames_close_with_their_code(server):
    client = RawWebSocket(server.address, "/echo")
    try:
        client.send(ping(b"are you there"))
        answer = client.read_frame()
        assert (answer.opcode, answer.payload) == (PONG, b"are you there")
        client.send(frame(TEXT, b"unmasked", mask=None))
        _, closing = client.read_until_close()
        assert closing.close_code == 1002
        assert client.at_eof()
    finally:
        client.close()


def test_the_close_handshake_started_by_the_client(server, seen):
    client = RawWebSocket(server.address, "/room/a/1")
    try:
        assert client.read_frame().payload == b"a:1"
        client.send(close(4002, "done"))
        _, answer = client.read_until_close()
        assert answer.close_code == 4002
        assert client.at_eof()  # the server closes TCP first
    finally:
        client.close()
    wait_for(lambda: seen.of("disconnect"), message="the handler to see the close")
    assert seen.of("disconnect") == [(4002, "done")]


def test_a_client_that_vanishes_is_1006(server, seen):
    client = RawWebSocket(server.address, "/room/b/2")
    assert client.read_frame().payload == b"b:2"
    client.close()
    wait_for(lambda: seen.of("disconnect"), message="the handler to see the end")
    assert seen.of("disconnect") == [(1006, "")]


def test_a_strict_peer_wsproto_over_a_socket(server):
    connection = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
    sock = socket.create_connection(server.address, timeout=WAIT)
    received: list = []

    def pump() -> None:
        while True:
            data = sock.recv(65536)
            connection.receive_data(data or None)
            for event in connection.events():
                received.append(event)
                if isinstance(event, wsp.CloseConnection):
                    if connection.state is ConnectionState.REMOTE_CLOSING:
                        sock.sendall(connection.send(event.response()))
                    return
            if received and isinstance(received[-1], (wsp.Message, wsp.AcceptConnection)):
                return
            if not data:
                return

    try:
        sock.sendall(connection.send(wsp.Request(host="test", target="/echo")))
        pump()
        assert isinstance(received[0], wsp.AcceptConnection)
        for message in ("text", b"bytes"):
            event_class = wsp.TextMessage if isinstance(message, str) else wsp.BytesMessage
            sock.sendall(connection.send(event_class(message)))
            pump()
            assert received[-1].data == message
        sock.sendall(connection.send(wsp.CloseConnection(code=1000)))
        pump()
        assert isinstance(received[-1], wsp.CloseConnection) and received[-1].code == 1000
    finally:
        sock.close()


def test_the_message_size_limit_is_a_setting(serve, seen):
    server = serve(make_app(seen), ws_max_message_size=1000)
    with connect(url(server, "/room/big/1"), compression=None) as ws:
        assert ws.recv(WAIT) == "big:1"
        ws.send("x" * 1001)
        with pytest.raises(ConnectionClosed):
            ws.recv(WAIT)
    assert ws.close_code == 1009
    wait_for(lambda: seen.of("disconnect"), message="the handler to see the close")
    assert seen.of("disconnect")[0][0] == 1009


# -- keep-alive -------------------------------------------------------------------------


def test_keepalive_pings_and_their_timeout(serve, seen):
    server = serve(make_app(seen), ws_ping_interval=0.2, ws_ping_timeout=0.5)
    client = RawWebSocket(server.address, "/room/ping/1")
    try:
        assert client.read_frame().payload == b"ping:1"
        for _ in range(3):  # answered pings keep it open
            keepalive = client.read_frame()
            assert keepalive.opcode == PING
            client.send(pong(keepalive.payload))
        client.send(text("still here"))  # the room handler returns on a message
        _, closing = client.read_until_close()
        assert closing.close_code == 1000
    finally:
        client.close()

    silent = RawWebSocket(server.address, "/room/silent/2")
    try:
        assert silent.read_frame().payload == b"silent:2"
        assert silent.read_frame().opcode == PING  # and no answer
        _, closing = silent.read_until_close()
        assert closing.close_code == 1011
        assert silent.at_eof()
    finally:
        silent.close()
    wait_for(lambda: seen.of("disconnect"), message="the handler to see the end")
    assert seen.of("disconnect") == [(1006, "keepalive ping timeout")]


# -- backpressure ------------------------------------------------------------------------


def test_send_waits_while_the_client_does_not_read(serve):
    app = App()
    state = {"sent": 0, "ws": None}
    size, count = 64 * 1024, 400  # 25 MiB, far more than the socket buffers hold

    @app.websocket("/flood")
    async def flood(request, ws):
        state["ws"] = ws
        for _ in range(count):
            await ws.send(b"x" * size)
            state["sent"] += 1
        await ws.receive()

    server = serve(app)
    client = RawWebSocket(server.address, "/flood", rcvbuf=64 * 1024)
    try:
        wait_for(lambda: state["ws"] is not None and getattr(state["ws"]._channel, "_writers", None),
                 message="the handler to wait in send()")
        transport = state["ws"]._channel._transport
        assert transport.get_write_buffer_size() <= 2 * size + 64 * 1024
        assert state["sent"] < count // 4
        received = 0
        while received < count:
            assert client.read_frame().payload == b"x" * size
            received += 1
        assert state["sent"] == count
    finally:
        client.close()


def test_reading_stops_while_the_handler_does_not_read(serve):
    app = App()
    release = asyncio.Event()
    state = {}
    count, size = 20_000, 1000  # 20 MB: more than the kernel buffers take

    @app.websocket("/lazy")
    async def lazy(request, ws):
        await ws.accept()
        state["channel"] = ws._channel
        await release.wait()
        total = 0
        async for message in ws:
            total += len(message)
            if total == count * size:
                await ws.send(str(total))

    def send_all() -> None:
        try:
            for _ in range(count):
                client.send(text("y" * size))
        except OSError:
            pass  # the test failed and closed the socket

    server = serve(app)
    client = RawWebSocket(server.address, "/lazy")
    sender = threading.Thread(target=send_all, daemon=True)
    try:
        wait_for(lambda: "channel" in state, message="the handshake")
        sender.start()
        channel = state["channel"]
        wait_for(lambda: channel._reading_paused, message="reading to stop")
        # At most the limit plus what one read of the socket brought.
        assert channel._unread <= 2 * 256 * 1024
        assert sender.is_alive()
        server.loop.call_soon_threadsafe(release.set)
        assert client.read_frame(timeout=60).payload == str(count * size).encode()
        sender.join(WAIT)
    finally:
        client.close()


# -- the drain and the edges of the handshake -------------------------------------------------


def test_a_drain_closes_every_websocket_with_1001(serve, seen):
    server = serve(make_app(seen), graceful_timeout=60.0)
    clients = [RawWebSocket(server.address, f"/room/r/{n}") for n in range(5)]
    silent = RawWebSocket(server.address, "/room/silent/9")  # never answers the close
    try:
        for n, client in enumerate(clients):
            assert client.read_frame().payload == f"r:{n}".encode()
        assert silent.read_frame().payload == b"silent:9"
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        for client in clients:
            _, closing = client.read_until_close()
            assert closing.close_code == 1001
            client.send(close(1001))
            assert client.at_eof()
        _, closing = silent.read_until_close()
        assert closing.close_code == 1001
        # Well within the graceful timeout: the silent one is dropped after
        # the close timeout, not after 60 s.
        stopping.join(15)
        assert not stopping.is_alive()
    finally:
        for client in (*clients, silent):
            client.close()
    assert sorted(seen.of("disconnect")) == [(1001, "server going away")] * 6


def test_a_drain_waits_for_handlers_and_cancels_those_that_wait_elsewhere(serve):
    app = App()
    outcome = Recorder()
    never = asyncio.Event()

    @app.websocket("/cleanup")
    async def cleanup(request, ws):
        try:
            await ws.receive()
        except WebSocketDisconnect as exc:
            await asyncio.sleep(0.2)  # cleanup that takes a while: the drain waits
            outcome.add(("cleaned up", exc.code))

    @app.websocket("/feed")
    async def feed(request, ws):
        await ws.accept()
        try:
            await never.wait()  # events to send, say: never the WebSocket
        except asyncio.CancelledError:
            outcome.add(("feed cancelled",))
            raise

    server = serve(app, graceful_timeout=60.0)
    clients = [RawWebSocket(server.address, path) for path in ("/cleanup", "/feed")]
    try:
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        for client in clients:
            _, closing = client.read_until_close()
            assert closing.close_code == 1001
            client.send(close(1001))
        stopping.join(15)  # the feed handler is cancelled after the close timeout
        assert not stopping.is_alive()
    finally:
        for client in clients:
            client.close()
    assert sorted(outcome.items) == [("cleaned up", 1001), ("feed cancelled",)]


def test_a_handshake_accepted_during_the_drain_is_closed_at_once(serve):
    app = App()
    go_on = asyncio.Event()
    waiting = threading.Event()

    @app.websocket("/slow")
    async def slow(request, ws):
        waiting.set()
        await go_on.wait()
        await ws.accept()
        await ws.receive()

    server = serve(app, graceful_timeout=60.0)
    client = RawWebSocket(server.address, "/slow", wait=False)
    try:
        assert waiting.wait(WAIT)
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        wait_for(lambda: connection_refused(server.address), message="the drain to begin")
        server.loop.call_soon_threadsafe(go_on.set)
        assert client.read_head()[0] == 101
        _, closing = client.read_until_close()
        assert closing.close_code == 1001
        client.send(close(1001))
        stopping.join(15)
        assert not stopping.is_alive()
    finally:
        client.close()


def test_a_client_gone_before_the_accept(serve):
    app = App()
    go_on = asyncio.Event()
    outcome = Recorder()

    @app.websocket("/slow")
    async def slow(request, ws):
        outcome.add(("channel", request.channel))
        await go_on.wait()
        try:
            await ws.accept()
        except WebSocketDisconnect as exc:
            outcome.add(("accept", exc.code))

    server = serve(app)
    client = RawWebSocket(server.address, "/slow", wait=False)
    [(channel,)] = wait_for(lambda: outcome.of("channel"), message="the handler to start")
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # a reset: the connection is gone, not half-closed
    wait_for(lambda: channel.closed, message="the server to see the reset")
    server.loop.call_soon_threadsafe(go_on.set)
    wait_for(lambda: outcome.of("accept"), message="accept() to fail")
    assert outcome.of("accept") == [(1006,)]


def test_a_client_that_half_closed_before_the_101(serve):
    """Its end of the stream reaches the WebSocket: it is closed (1006)."""
    app = App()
    outcome = Recorder()

    @app.websocket("/half")
    async def half(request, ws):
        try:  # accept() itself may see the end first
            await ws.accept()
            await ws.receive()
        except WebSocketDisconnect as exc:
            outcome.add(("closed", exc.code))

    server = serve(app)
    client = RawWebSocket(server.address, "/half", wait=False)
    try:
        client.sock.shutdown(socket.SHUT_WR)
        assert client.read_head()[0] == 101
        assert client.at_eof()
    finally:
        client.close()
    wait_for(lambda: outcome.items, message="the handler to see the end")
    assert outcome.of("closed") == [(1006,)]


def test_one_receiver_at_a_time(serve):
    app = App()
    outcome = Recorder()

    @app.websocket("/two")
    async def two(request, ws):
        await ws.accept()
        first = asyncio.ensure_future(ws.receive())
        await asyncio.sleep(0)
        try:
            await ws.receive()
        except RuntimeError as exc:
            outcome.add(("second", str(exc)))
        await ws.send("checked")
        outcome.add(("first", await first))

    server = serve(app)
    with connect(url(server, "/two")) as ws:
        assert ws.recv(WAIT) == "checked"
        ws.send("to the first")
        wait_for(lambda: outcome.of("first"), message="the first receiver")
    assert outcome.of("second") == [("another task is already waiting in receive()",)]
    assert outcome.of("first") == [("to the first",)]


def test_close_checks_its_arguments(serve):
    app = App()
    outcome = Recorder()

    @app.websocket("/bad-close")
    async def bad_close(request, ws):
        await ws.accept()
        for code, reason in ((1005, ""), (999, ""), (1000, "é" * 62)):
            try:
                await ws.close(code, reason)
            except ValueError:
                outcome.add(("refused", code))
        await ws.close(1000, "é" * 61)

    server = serve(app)
    with connect(url(server, "/bad-close")) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(WAIT)
    assert ws.close_code == 1000
    assert outcome.of("refused") == [(1005,), (999,), (1000,)]


def test_websocket_disconnect():
    exc = WebSocketDisconnect(1001, "going")
    assert (exc.code, exc.reason, str(exc)) == (1001, "going", "1001 going")
    assert str(WebSocketDisconnect()) == "1000"
