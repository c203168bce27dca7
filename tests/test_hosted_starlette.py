"""Starlette served as an ASGI application by `zerodep-http -w 2`
(auto-detected): what Starlette users rely on, lifespan state included,
and signals on a hosted ASGI app."""

from __future__ import annotations

import signal
import threading
import time

import pytest

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
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

HERE = os.path.dirname(os.path.abspath(__file__))

@asynccontextmanager
async def lifespan(app):
    os.write(1, f"lifespan startup {os.getpid()}\\n".encode())  # one write: workers share the pipe
    yield {"pool": "ready"}
    os.write(1, f"lifespan shutdown {os.getpid()}\\n".encode())  # one write: workers share the pipe

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
    os.write(1, b"slow request started\\n")  # one write: workers share the pipe
    await asyncio.sleep(1)
    return PlainTextResponse("slow done")

async def boom(request):
    raise ValueError("starlette view failed")

async def not_found(request, exc):
    return JSONResponse({"error": "custom not found"}, status_code=exc.status_code)

async def server_error(request, exc):
    return PlainTextResponse("custom error page", status_code=500)

app = Starlette(
    routes=[Route("/json", data), Route("/form", form, methods=["POST"]),
            Route("/echo", echo, methods=["POST"]), Route("/login", login), Route("/me", me),
            Route("/sse", sse), Route("/forever", forever), Route("/download", download),
            Route("/slow", slow), Route("/boom", boom),
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
