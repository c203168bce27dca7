"""Starlette served as an ASGI application by `zerodep-http -w 2`
(auto-detected): what Starlette users rely on, lifespan state and
WebSocket routes included, and signals on a hosted ASGI app."""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from conftest import RawClient
from hosting_support import client, running, start_master

APP = '''
import asyncio, os
from contextlib import asynccontextmanager
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import (FileResponse, JSONResponse, PlainTextResponse,
                                 RedirectResponse, StreamingResponse)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocketDisconnect

HERE = os.path.dirname(os.path.abspath(__file__))

def say(line):
    os.write(1, f"{line}\\n".encode())  # one write: the workers share the pipe

@asynccontextmanager
async def lifespan(app):
    say(f"lifespan startup {os.getpid()}")
    yield {"pool": "ready"}
    say(f"lifespan shutdown {os.getpid()}")

async def data(request):
    return JSONResponse({"message": "hello", "pool": request.state.pool,
                         "client": request.client.host, "scheme": request.url.scheme})

async def form(request):
    async with request.form() as fields:
        upload = fields["upload"]
        return JSONResponse({"name": fields["name"], "filename": upload.filename,
                             "content": (await upload.read()).decode()})

async def echo(request):
    chunks = [len(chunk) async for chunk in request.stream()]
    return JSONResponse({"received": sum(chunks)})

async def login(request):
    request.session["user"] = request.query_params["user"]
    response = RedirectResponse("/me", status_code=303)
    response.set_cookie("flavour", "oat")
    return response

async def me(request):
    return JSONResponse({"user": request.session.get("user"),
                         "flavour": request.cookies.get("flavour")})

async def sse(request):
    async def events():
        for number in range(3):
            yield f"data: {number}\\n\\n"
            await asyncio.sleep(0.01)
    return StreamingResponse(events(), media_type="text/event-stream")

async def forever(request):
    async def ticks():
        while True:
            yield "tick\\n"
            await asyncio.sleep(0.05)
    return StreamingResponse(ticks(), media_type="text/plain")

async def download(request):
    return FileResponse(os.path.join(HERE, "static", "big.bin"))

async def slow(request):
    say("slow request started")
    await asyncio.sleep(1)
    return PlainTextResponse("slow done")

async def boom(request):
    raise ValueError("starlette view failed")

async def ws_echo(websocket):
    await websocket.accept(headers=[(b"x-worker", str(os.getpid()).encode())])
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                say(f"echo disconnect {message['code']} {message.get('reason', '')}")
                return
            if message.get("text") is not None:
                await websocket.send_text(message["text"])
            else:
                await websocket.send_bytes(message["bytes"])
    except WebSocketDisconnect:
        pass

async def ws_json(websocket):
    await websocket.accept()
    async for data in websocket.iter_json():
        await websocket.send_json({"got": data, "pool": websocket.state.pool,
                                   "room": websocket.path_params["room"]})

async def ws_chat(websocket):
    offered = websocket.scope["subprotocols"]
    await websocket.accept(subprotocol=next((p for p in ("chat.v2", "chat.v1")
                                             if p in offered), None))
    await websocket.send_text(f"offered {','.join(offered)}")
    await websocket.close(code=4001, reason="chat over")

async def ws_members(websocket):
    if websocket.query_params.get("token") != "secret":
        await websocket.close(code=1008)  # before accepting: a 403
        return
    await websocket.accept()
    await websocket.send_text("welcome")
    await websocket.close()

async def ws_denied(websocket):
    await websocket.send_denial_response(
        JSONResponse({"error": "log in first"}, status_code=401,
                     headers={"www-authenticate": "Bearer"}))

async def ws_drain(websocket):
    await websocket.accept()
    await websocket.send_text(str(os.getpid()))
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect as exc:
        say(f"drain disconnect {exc.code} {os.getpid()}")

async def not_found(request, exc):
    return JSONResponse({"error": "custom not found"}, status_code=exc.status_code)

async def server_error(request, exc):
    return PlainTextResponse("custom error page", status_code=500)

app = Starlette(
    routes=[Route("/json", data), Route("/form", form, methods=["POST"]),
            Route("/echo", echo, methods=["POST"]), Route("/login", login), Route("/me", me),
            Route("/sse", sse), Route("/forever", forever), Route("/download", download),
            Route("/slow", slow), Route("/boom", boom),
            WebSocketRoute("/ws/echo", ws_echo), WebSocketRoute("/ws/json/{room}", ws_json),
            WebSocketRoute("/ws/chat", ws_chat), WebSocketRoute("/ws/members", ws_members),
            WebSocketRoute("/ws/denied", ws_denied), WebSocketRoute("/ws/drain", ws_drain),
            Mount("/static", StaticFiles(directory=os.path.join(HERE, "static")))],
    middleware=[Middleware(SessionMiddleware, secret_key="not so secret")],
    exception_handlers={404: not_found, 500: server_error},
    lifespan=lifespan)
'''

BIG = bytes(range(256)) * 1024


def write_static(directory):
    (directory / "static").mkdir(exist_ok=True)
    (directory / "static" / "big.bin").write_bytes(BIG)
    (directory / "static" / "hello.txt").write_text("static hello\n")


@pytest.fixture(scope="module")
def master(tmp_path_factory):
    directory = tmp_path_factory.mktemp("starlette")
    write_static(directory)
    yield from running(start_master(directory, {"starletteapp.py": APP}, "starletteapp:app"))


@pytest.fixture
def http(master):
    with client(master) as session:
        yield session


def test_detected_as_asgi_with_lifespan_state(http, master):
    assert master.count("lifespan startup", stream="stdout") == 2  # in each worker
    assert http.get("/json").json() == {"message": "hello", "pool": "ready",
                                        "client": "127.0.0.1", "scheme": "http"}


def test_form_and_file_upload(http):
    response = http.post("/form", data={"name": "zed"},
                         files={"upload": ("notes.txt", b"file body", "text/plain")})
    assert response.json() == {"name": "zed", "filename": "notes.txt", "content": "file body"}


def test_streamed_request_body(http):
    body = iter([b"x" * 100_000] * 5)
    assert http.post("/echo", content=body).json() == {"received": 500_000}


def test_session_cookie_and_redirect(http):
    response = http.get("/login", params={"user": "ada"})
    assert (response.status_code, response.headers["location"]) == (303, "/me")
    assert len(response.headers.get_list("set-cookie")) == 2
    assert http.get("/me").json() == {"user": "ada", "flavour": "oat"}


def test_server_sent_events(http):
    with http.stream("GET", "/sse") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert [line for line in response.iter_lines() if line] == ["data: 0", "data: 1",
                                                                    "data: 2"]


def test_an_endless_stream_stops_when_the_client_leaves(master):
    raw = RawClient(("127.0.0.1", master.port))
    raw.send_request("GET", "/forever")
    while b"tick" not in raw.received:
        raw._recv(time.monotonic() + 10)
    raw.close()
    with client(master) as http:  # the workers go on serving
        assert http.get("/json").status_code == 200


def test_static_files_and_file_response_sent_by_path(http):
    assert http.get("/static/hello.txt").text == "static hello\n"
    whole = http.get("/download")
    assert whole.content == BIG
    assert whole.headers["content-length"] == str(len(BIG))
    ranged = http.get("/static/big.bin", headers={"range": "bytes=5-9"})
    assert (ranged.status_code, ranged.content) == (206, BIG[5:10])


def test_error_pages(http, master):
    assert http.get("/missing").json() == {"error": "custom not found"}
    boom = http.get("/boom")
    assert (boom.status_code, boom.text) == (500, "custom error page")
    master.wait_for("starlette view failed")  # the traceback is logged


def ws_url(master, path: str) -> str:
    return f"ws://127.0.0.1:{master.port}{path}"


def test_websocket_echo_of_text_and_binary(master):
    with connect(ws_url(master, "/ws/echo")) as ws:
        assert ws.response.headers["x-worker"].isdigit()
        ws.send("hello")
        assert ws.recv(15) == "hello"
        ws.send(b"\x00\xffbinary")
        assert ws.recv(15) == b"\x00\xffbinary"
        big = "é" * 300_000  # fragmented by the client, compressed both ways
        ws.send(big)
        assert ws.recv(15) == big
        ws.close(4002, "leaving")
    master.wait_for("echo disconnect 4002 leaving", stream="stdout")


def test_websocket_json_with_path_parameters_and_lifespan_state(master):
    with connect(ws_url(master, "/ws/json/lobby")) as ws:
        ws.send('{"say": "hi"}')
        assert ws.recv(15) == '{"got":{"say":"hi"},"pool":"ready","room":"lobby"}'


def test_websocket_subprotocol_selection_and_close_with_a_code(master):
    with connect(ws_url(master, "/ws/chat"), subprotocols=["chat.v1", "chat.v2"]) as ws:
        assert ws.subprotocol == "chat.v2"
        assert ws.recv(15) == "offered chat.v1,chat.v2"
        with pytest.raises(ConnectionClosed):
            ws.recv(15)
    assert (ws.close_code, ws.close_reason) == (4001, "chat over")


def test_websocket_refusal_is_a_403_and_acceptance_is_conditional(master):
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(master, "/ws/members"), open_timeout=15)
    assert refused.value.response.status_code == 403
    with connect(ws_url(master, "/ws/members?token=secret")) as ws:
        assert ws.recv(15) == "welcome"
    with pytest.raises(InvalidStatus) as unknown:  # Starlette closes what no route takes
        connect(ws_url(master, "/ws/nowhere"), open_timeout=15)
    assert unknown.value.response.status_code == 403


def test_websocket_denial_response(master):
    with pytest.raises(InvalidStatus) as denied:
        connect(ws_url(master, "/ws/denied"), open_timeout=15)
    response = denied.value.response
    assert (response.status_code, response.headers["www-authenticate"]) == (401, "Bearer")
    assert response.body == b'{"error":"log in first"}'


def test_term_closes_websockets_with_1001_and_the_app_hears_it(tmp_path):
    write_static(tmp_path)
    server = start_master(tmp_path, {"starletteapp.py": APP}, "starletteapp:app",
                          "--graceful-timeout", "60")
    for _ in running(server):
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(connect(ws_url(server, "/ws/drain")))
                       for _ in range(4)]
            pids = {int(ws.recv(15)) for ws in sockets}
            server.signal(signal.SIGTERM)
            for ws in sockets:
                with pytest.raises(ConnectionClosed):
                    ws.recv(15)
                assert ws.close_code == 1001
            assert server.wait(30) == 0  # well within the graceful timeout
        for pid in pids:
            server.wait_for(f"drain disconnect 1001 {pid}", stream="stdout")
        assert server.count("drain disconnect 1001", stream="stdout") == 4
        server.wait_for("lifespan shutdown", stream="stdout", count=2)


def test_drain_lets_a_request_finish_and_lifespan_shuts_down(tmp_path):
    write_static(tmp_path)
    server = start_master(tmp_path, {"starletteapp.py": APP}, "starletteapp:app")
    for _ in running(server):
        with client(server) as http:
            server.signal(signal.SIGHUP)
            server.wait_for("Reload complete", timeout=60)
            assert http.get("/json").json()["pool"] == "ready"
            results = []
            slow = threading.Thread(target=lambda: results.append(http.get("/slow").text))
            slow.start()
            server.wait_for("slow request started", stream="stdout")
            server.signal(signal.SIGTERM)
            slow.join(15)
            assert results == ["slow done"]
            assert server.wait(15) == 0
        # Both generations shut their lifespan down.
        server.wait_for("lifespan shutdown", stream="stdout", count=4)
