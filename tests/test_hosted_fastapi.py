"""FastAPI served as an ASGI application by `zerodep-http -w 2`: what
FastAPI users rely on, its documented behaviours (a validation error
is a 422 with its JSON body), and its WebSocket endpoints."""

from __future__ import annotations

import contextlib
import signal
import textwrap

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from hosting_support import client, running, start_master

APP = '''
import asyncio, os
from contextlib import asynccontextmanager
from typing import Annotated
from fastapi import (Cookie, FastAPI, File, Form, HTTPException, Request, UploadFile, WebSocket,
                     WebSocketDisconnect, WebSocketException, status)
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = {}
VERSION = "v1"

def say(line):
    os.write(1, f"{line}\\n".encode())  # one write: the workers share the pipe

@asynccontextmanager
async def lifespan(app):
    STATE["models"] = ["loaded"]
    yield {"started": True}
    STATE.clear()

app = FastAPI(lifespan=lifespan)
app.add_middleware(SessionMiddleware, secret_key="not so secret")
app.mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static")

class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []

@app.post("/items", status_code=201)
async def create_item(item: Item):
    return {"item": item.model_dump(), "models": STATE["models"]}

@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None):
    if item_id == 0:
        raise HTTPException(status_code=404, detail="no such item")
    return {"item_id": item_id, "q": q}

@app.get("/state")
async def state(request: Request):
    return {"started": request.state.started}

@app.post("/upload")
async def upload(name: Annotated[str, Form()], file: Annotated[UploadFile, File()]):
    return {"name": name, "filename": file.filename, "size": len(await file.read())}

@app.get("/login")
async def login(request: Request, user: str):
    request.session["user"] = user
    response = RedirectResponse("/me", status_code=303)
    response.set_cookie("flavour", "oat")
    return response

@app.get("/me")
async def me(request: Request, flavour: Annotated[str | None, Cookie()] = None):
    return {"user": request.session.get("user"), "flavour": flavour}

@app.get("/sse")
async def sse():
    async def events():
        for number in range(3):
            yield f"data: {number}\\n\\n"
            await asyncio.sleep(0.01)
    return StreamingResponse(events(), media_type="text/event-stream")

@app.get("/sync")
def sync_view():
    return {"threadpool": True}

@app.get("/boom")
async def boom():
    raise ValueError("fastapi view failed")

@app.websocket("/ws/echo")
async def ws_echo(websocket: WebSocket):
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect as exc:
        say(f"echo disconnect {exc.code}")

@app.websocket("/ws/items/{item_id}")
async def ws_items(websocket: WebSocket, item_id: int, token: str | None = None):
    if token != "secret":
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION)
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol="items.v1" if "items.v1" in offered else None)
    data = await websocket.receive_json()
    await websocket.send_json({"item_id": item_id, "got": data, "models": STATE["models"],
                               "started": websocket.state.started})
    await websocket.close(code=4000, reason="enough")

@app.websocket("/ws/unguarded")
async def ws_unguarded(websocket: WebSocket):
    await websocket.accept()
    while True:  # lets WebSocketDisconnect through when the client leaves
        await websocket.send_text(f"you said {await websocket.receive_text()}")

@app.websocket("/ws/version")
async def ws_version(websocket: WebSocket):
    await websocket.accept()
    await websocket.send_text(f"{VERSION} {os.getpid()}")
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect as exc:
        say(f"version {VERSION} disconnect {exc.code} {os.getpid()}")
'''


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    directory = tmp_path_factory.mktemp("fastapi")
    (directory / "static").mkdir()
    (directory / "static" / "hello.txt").write_text("static hello\n")
    yield from running(start_master(directory, {"fastapiapp.py": APP}, "fastapiapp:app",
                                    "--lifespan", "on"))


@pytest.fixture
def http(master):
    with client(master) as session:
        yield session


def test_json_body_validated_by_a_model(http):
    response = http.post("/items", json={"name": "pen", "price": "1.5"})
    assert response.status_code == 201
    assert response.json() == {"item": {"name": "pen", "price": 1.5, "tags": []},
                               "models": ["loaded"]}


def test_validation_error_is_a_422_with_its_json_body(http):
    response = http.post("/items", json={"name": "pen", "price": "cheap"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "price"]
    assert detail[0]["type"] == "float_parsing"
    assert http.get("/items/not-a-number").status_code == 422


def test_path_and_query_parameters_and_http_exception(http):
    assert http.get("/items/3", params={"q": "x"}).json() == {"item_id": 3, "q": "x"}
    missing = http.get("/items/0")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no such item"})


def test_lifespan_state_reaches_requests(http):
    assert http.get("/state").json() == {"started": True}


def test_form_and_file_upload(http):
    response = http.post("/upload", data={"name": "zed"},
                         files={"file": ("data.bin", b"\0" * 70_000, "application/octet-stream")})
    assert response.json() == {"name": "zed", "filename": "data.bin", "size": 70_000}


def test_session_cookie_and_redirect(http):
    response = http.get("/login", params={"user": "ada"})
    assert response.status_code == 303
    assert http.get("/me").json() == {"user": "ada", "flavour": "oat"}


def test_server_sent_events(http):
    with http.stream("GET", "/sse") as response:
        assert [line for line in response.iter_lines() if line] == ["data: 0", "data: 1",
                                                                    "data: 2"]


def test_static_files_sync_views_and_openapi(http):
    assert http.get("/static/hello.txt").text == "static hello\n"
    assert http.get("/sync").json() == {"threadpool": True}
    assert "/items/{item_id}" in http.get("/openapi.json").json()["paths"]
    assert http.get("/docs").status_code == 200


def test_unhandled_error_is_a_500_without_the_traceback(http, master):
    response = http.get("/boom")
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    master.wait_for("fastapi view failed")


def ws_url(master, path: str) -> str:
    return f"ws://127.0.0.1:{master.port}{path}"


def test_websocket_echo_and_the_disconnect_code(master):
    with connect(ws_url(master, "/ws/echo")) as ws:
        ws.send("hello")
        assert ws.recv(15) == "hello"
        ws.close(4003, "bye")
    master.wait_for("echo disconnect 4003", stream="stdout")


def test_websocket_json_subprotocol_path_and_query_parameters_and_close_code(master):
    with connect(ws_url(master, "/ws/items/7?token=secret"), subprotocols=["items.v1"]) as ws:
        assert ws.subprotocol == "items.v1"
        ws.send('{"price": 1.5}')
        assert ws.recv(15) == ('{"item_id":7,"got":{"price":1.5},"models":["loaded"],'
                               '"started":true}')
        with pytest.raises(ConnectionClosed):
            ws.recv(15)
    assert (ws.close_code, ws.close_reason) == (4000, "enough")


@pytest.mark.parametrize("path", ["/ws/items/7", "/ws/items/7?token=wrong", "/ws/items/seven",
                                  "/ws/nowhere"])
def test_websocket_refusals_are_403(master, path):
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(master, path), open_timeout=15)
    assert refused.value.response.status_code == 403


def test_websocket_disconnect_let_through_by_the_endpoint_is_not_an_error(master):
    with connect(ws_url(master, "/ws/unguarded")) as ws:
        ws.send("hi")
        assert ws.recv(15) == "you said hi"
    master.wait_for(r"\[INFO\] ASGI application raised .*WebSocketDisconnect.* after the "
                    r"WebSocket /ws/unguarded closed")
    assert "on the WebSocket /ws/unguarded" not in master.stderr  # no error, no traceback


def test_hup_closes_websockets_with_1001_and_they_reconnect_to_the_new_generation(tmp_path):
    (tmp_path / "static").mkdir()
    server = start_master(tmp_path, {"fastapiapp.py": APP},
                          "fastapiapp:app", "--graceful-timeout", "60")
    for _ in running(server):
        old = []
        for _ in range(4):
            with connect(ws_url(server, "/ws/version")) as ws:
                pass  # warm: both workers up
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(connect(ws_url(server, "/ws/version")))
                       for _ in range(4)]
            for ws in sockets:
                version, pid = ws.recv(15).split()
                assert version == "v1"
                old.append(int(pid))
            (tmp_path / "fastapiapp.py").write_text(textwrap.dedent(APP.replace('VERSION = "v1"', 'VERSION = "v2"')))
            server.signal(signal.SIGHUP)
            for ws in sockets:
                with pytest.raises(ConnectionClosed):
                    ws.recv(30)
                assert ws.close_code == 1001
        for pid in set(old):
            server.wait_for(f"version v1 disconnect 1001 {pid}", stream="stdout", timeout=30)
        server.wait_for("Reload complete", timeout=60)
        with connect(ws_url(server, "/ws/version")) as ws:
            version, pid = ws.recv(15).split()
            assert version == "v2" and int(pid) not in old
