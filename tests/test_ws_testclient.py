"""`client.websocket_connect(url)`: WebSocket routes tested without a
socket, through the real connection code."""

from __future__ import annotations

import asyncio

import pytest

from zerodep_http import App, WebSocketDisconnect, abort
from zerodep_http.testing import AsyncTestClient, TestClient, WebSocketRefused


def make_app(seen: list) -> App:
    app = App()

    @app.before_request
    async def members_only(request):
        if request.path.startswith("/ws/private"):
            return "members only", 401

    @app.websocket("/ws/<room>")
    async def chat(request, ws, room):
        chosen = "chat" if "chat" in ws.subprotocols else None
        await ws.accept(subprotocol=chosen, headers={"x-room": room})
        await ws.send(f"welcome to {room}")
        try:
            async for message in ws:
                if message == "json":
                    await ws.send_json(await ws.receive_json())
                elif message == "bye":
                    await ws.close(4000, "see you")
                else:
                    await ws.send(message)
        finally:
            seen.append(room)

    @app.websocket("/listen")
    async def listen(request, ws):
        try:
            await ws.receive()
        except WebSocketDisconnect as exc:
            seen.append((exc.code, exc.reason))

    @app.websocket("/refuse")
    async def refuse(request, ws):
        abort(403, "not today")

    return app


def test_messages_both_ways():
    seen: list = []
    with TestClient(make_app(seen)) as client:
        with client.websocket_connect("/ws/lobby", subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"
            assert ws.response.headers["x-room"] == "lobby"
            assert ws.receive_text() == "welcome to lobby"
            ws.send_text("héllo")
            assert ws.receive() == "héllo"
            ws.send_bytes(b"\x00\x01" * 40_000)
            assert ws.receive_bytes() == b"\x00\x01" * 40_000
            ws.send_text("json")
            ws.send_json({"a": [1, 2]})
            assert ws.receive_json() == {"a": [1, 2]}
            ws.send_text("bye")
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive()
            assert (closed.value.code, closed.value.reason) == (4000, "see you")
    assert seen == ["lobby"]


def test_the_client_closing():
    seen: list = []
    with TestClient(make_app(seen)) as client:
        with client.websocket_connect("/listen") as ws:
            ws.close(4001, "done")
        with client.websocket_connect("/listen"):
            pass  # leaving the block closes with 1000
    assert seen == [(4001, "done"), (1000, "")]


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/ws/private", 401, "members only"),
    ("/refuse", 403, "not today"),
    ("/nowhere", 404, "Not Found"),
])
def test_refused_handshakes_raise_with_the_response(path, status, text):
    with TestClient(make_app([])) as client:
        with pytest.raises(WebSocketRefused) as refused:
            with client.websocket_connect(path):
                pass
    assert (refused.value.response.status_code, refused.value.response.text) == (status, text)


def test_a_plain_get_to_a_websocket_route():
    with TestClient(make_app([])) as client:
        response = client.get("/ws/lobby")
    assert response.status_code == 426
    assert response.headers["upgrade"] == "websocket"


def test_the_async_client():
    seen: list = []

    async def scenario():
        async with AsyncTestClient(make_app(seen)) as client:
            async with client.websocket_connect("/ws/async") as ws:
                assert ws.subprotocol is None
                assert await ws.receive() == "welcome to async"
                await ws.send_text("ping")
                assert await ws.receive_text() == "ping"

    asyncio.run(scenario())
    assert seen == ["async"]


def test_the_test_connection_logs_no_error(caplog):
    """The test client's stand-in for the server has what a connection
    asks of its owner (it once lacked the --max-requests count)."""
    with TestClient(make_app([])) as client:
        assert client.get("/ws/lobby").status_code == 426
        with client.websocket_connect("/ws/lobby") as ws:
            assert ws.receive() == "welcome to lobby"
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
