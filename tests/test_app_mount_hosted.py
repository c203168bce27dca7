"""An old application living beside new routes: ASGI and WSGI apps (a
Starlette one, a Flask one, bare ones) mounted in a native App."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from flask import Flask, jsonify
from flask import request as flask_request
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse as StarletteJSON
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from zerodep_http import App

from conftest import WAIT, wait_for


def legacy_flask() -> Flask:
    legacy = Flask("legacy")

    @legacy.get("/users/<int:id>")
    def user(id):
        return jsonify(id=id, script_root=flask_request.script_root, path=flask_request.path,
                       url=flask_request.url)

    @legacy.post("/echo")
    def echo():
        return flask_request.get_data()

    return legacy


def legacy_starlette(events: list[str]) -> Starlette:
    async def item(request: StarletteRequest):
        return StarletteJSON({"root_path": request.scope["root_path"],
                              "path": request.url.path, "body": (await request.body()).decode()})

    async def chat(websocket: StarletteWebSocket):
        await websocket.accept(subprotocol="chat.v1")
        await websocket.send_json({"root_path": websocket.scope["root_path"],
                                   "path": websocket.url.path})
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect as exc:
            events.append(f"asgi websocket closed {exc.code}")

    @contextlib.asynccontextmanager
    async def lifespan(app):
        events.append("asgi startup")
        yield
        events.append("asgi shutdown")

    return Starlette(routes=[Route("/item", item, methods=["GET", "POST"]),
                             WebSocketRoute("/chat", chat)], lifespan=lifespan)


def mixed_app(events: list[str]) -> App:
    app = App()

    @app.get("/new")
    async def new(request):
        return "new route"

    @app.before_request
    def guard(request):
        events.append(f"guard {request.path}")
        if request.headers.get("x-block"):
            return "blocked by the parent", 403

    app.mount(legacy_flask(), url_prefix="/old")
    app.mount(legacy_starlette(events), url_prefix="/asgi")
    return app


def test_flask_and_starlette_beside_native_routes(serve):
    events: list[str] = []
    server = serve(mixed_app(events))
    with httpx.Client(base_url=server.url, timeout=WAIT) as client:
        assert client.get("/new").text == "new route"
        flask_user = client.get("/old/users/7").json()
        assert flask_user == {"id": 7, "script_root": "/old", "path": "/users/7",
                              "url": f"{server.url}/old/users/7"}
        assert client.post("/old/echo", content=b"x" * 100_000).content == b"x" * 100_000
        item = client.post("/asgi/item", content=b"hello").json()
        assert item == {"root_path": "/asgi", "path": "/asgi/item", "body": "hello"}
        blocked = client.get("/old/users/1", headers={"x-block": "1"})
        assert (blocked.status_code, blocked.text) == (403, "blocked by the parent")
        assert client.get("/asgi/nowhere").status_code == 404  # Starlette's own 404
    assert "guard /old/users/7" in events
    server.stop()
    assert events.count("asgi startup") == 1 and events.count("asgi shutdown") == 1


def test_a_mounted_asgi_apps_websockets(serve):
    events: list[str] = []
    server = serve(mixed_app(events))
    url = f"ws://127.0.0.1:{server.port}/asgi/chat"
    with connect(url, subprotocols=["chat.v1"]) as ws:
        assert ws.subprotocol == "chat.v1"
        assert ws.recv(WAIT) == '{"root_path":"/asgi","path":"/asgi/chat"}'
        ws.send("hello")
        assert ws.recv(WAIT) == "hello"
    wait_for(lambda: "asgi websocket closed 1000" in events)
    assert "guard /asgi/chat" in events  # the parent's hooks ran first...
    with pytest.raises(InvalidStatus) as blocked:  # ...and may refuse the handshake
        connect(url, additional_headers={"x-block": "1"}, open_timeout=WAIT)
    assert (blocked.value.response.status_code, blocked.value.response.body) == (
        403, b"blocked by the parent")


def test_a_mounted_native_apps_hooks_run_too():
    from zerodep_http.testing import TestClient

    parent, child = App(), App()
    started: list[str] = []
    child.on_startup(lambda: started.append("child"))
    parent.on_startup(lambda: started.append("parent"))
    parent.mount(child, url_prefix="/child")
    with TestClient(parent):
        assert started == ["parent", "child"]


def test_what_cannot_be_mounted_is_refused():
    with pytest.raises(ValueError, match="neither a zerodep_http App"):
        App().mount(object(), url_prefix="/x")
