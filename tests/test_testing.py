"""The test clients: no socket, the real parser and connection, cookies
that persist, request bodies of every kind, streams read as produced."""

from __future__ import annotations

import asyncio
import threading

import pytest

from zerodep_http import App, Response, StreamingResponse, redirect
from zerodep_http.testing import AsyncTestClient, TestClient


def make_app() -> App:
    app = App(secret_key="test secret")
    app.state.events = []

    @app.on_startup
    async def started():
        app.state.events.append("startup")

    @app.on_shutdown
    async def stopped():
        app.state.events.append("shutdown")

    @app.get("/hello")
    async def hello(request):
        return "hello"

    @app.post("/echo")
    async def echo(request):
        return Response(request.body, content_type=request.headers.get("content-type"))

    @app.route("/inspect", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def inspect(request):
        return {"method": request.method, "path": request.path, "query": request.query_params,
                "headers": request.headers, "cookies": request.cookies,
                "form": request.form() if "urlencoded" in request.headers.get("content-type", "")
                else None, "json": request.json() if request.headers.get("content-type") ==
                "application/json" else None}

    @app.post("/login")
    async def login(request):
        request.session["user"] = request.form()["user"][0]
        return redirect("/me", 303)

    @app.get("/me")
    async def me(request):
        return {"user": request.session.get("user")}

    @app.get("/set-path-cookie")
    async def set_path_cookie(request):
        response = Response("ok")
        response.set_cookie("scoped", "1", path="/inspect")
        response.set_cookie("gone", "", max_age=0)
        return response

    @app.get("/crash")
    async def crash(request):
        raise RuntimeError("boom")

    return app


def test_requests_through_the_real_connection():
    with TestClient(make_app()) as client:
        response = client.get("/hello")
        assert (response.status_code, response.text) == (200, "hello")
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["Content-Length"] == "5"
        head = client.head("/hello")
        assert head.content == b"" and head.headers["content-length"] == "5"
        assert client.get("/nowhere").status_code == 404
        assert client.get("/crash").status_code == 500
        assert client.options("/hello").headers["allow"] == "GET, HEAD, OPTIONS"


def test_every_kind_of_body_and_parameter():
    with TestClient(make_app(), headers={"x-default": "1"}) as client:
        seen = client.put("/inspect?a=1", params={"b": ["2", "3"]}, json={"k": [1, 2]},
                          headers={"x-extra": "yes"}, cookies={"c": "v"}).json()
        assert seen["method"] == "PUT"
        assert seen["query"] == {"a": ["1"], "b": ["2", "3"]}
        assert seen["json"] == {"k": [1, 2]}
        assert seen["headers"]["x-extra"] == "yes" and seen["headers"]["x-default"] == "1"
        assert seen["headers"]["host"] == "testserver"
        assert seen["cookies"] == {"c": "v"}
        form = client.post("/inspect", data={"name": "Ada", "tags": ["a", "b"]}).json()
        assert form["form"] == {"name": ["Ada"], "tags": ["a", "b"]}
        raw = client.post("/echo", content=b"\x00\x01raw", headers={"content-type": "x/y"})
        assert raw.content == b"\x00\x01raw"
        assert client.delete("/inspect").json()["method"] == "DELETE"
        assert client.patch("/inspect", content="x").json()["method"] == "PATCH"


def test_files_go_as_multipart():
    payload = bytes(range(256)) * 100
    with TestClient(make_app()) as client:
        response = client.post("/echo", data={"title": "x"},
                               files={"upload": ("a b.bin", payload, "application/x-data")})
        body = response.content
        assert response.headers["content-type"].startswith("multipart/form-data; boundary=")
        assert b'name="title"\r\n\r\nx\r\n' in body
        assert b'name="upload"; filename="a b.bin"\r\nContent-Type: application/x-data\r\n\r\n' in body
        boundary = response.headers["content-type"].split("boundary=")[1].encode()
        assert b"\r\n\r\n" + payload + b"\r\n--" + boundary + b"--\r\n" in body


def test_cookies_persist_so_sessions_work():
    with TestClient(make_app()) as client:
        login = client.post("/login", data={"user": "ada"})
        assert login.status_code == 303 and login.headers["location"] == "/me"  # not followed
        assert "session" in login.cookies
        assert client.get("/me").json() == {"user": "ada"}
        client.get("/set-path-cookie")
        assert client.get("/inspect").json()["cookies"]["scoped"] == "1"
        assert "scoped" not in client.get("/me").json()
        assert "gone" not in client.cookies


def test_lifecycle_hooks_run_with_the_block():
    app = make_app()
    with TestClient(app) as client:
        assert app.state.events == ["startup"]
        client.get("/hello")
    assert app.state.events == ["startup", "shutdown"]


def test_a_stream_is_read_as_it_is_produced():
    app = App()
    produced = threading.Event()
    finished = threading.Event()

    @app.get("/events")
    async def events(request):
        async def feed():
            try:
                yield "data: first\n\n"
                while not produced.is_set():  # the test has read the first event
                    await asyncio.sleep(0.01)
                yield "data: second\n\n"
                await asyncio.sleep(60)
            finally:
                finished.set()
        return StreamingResponse(feed(), content_type="text/event-stream")

    with TestClient(app) as client:
        with client.stream("GET", "/events") as response:
            assert response.headers["content-type"] == "text/event-stream"
            lines = response.iter_lines()
            assert next(lines) == "data: first"
            produced.set()
            assert [next(lines), next(lines)] == ["", "data: second"]
        assert finished.wait(5)  # hanging up closed the generator


def test_the_async_client():
    async def scenario():
        app = make_app()
        async with AsyncTestClient(app) as client:
            assert (await client.get("/hello")).text == "hello"
            await client.post("/login", data={"user": "grace"})
            assert (await client.get("/me")).json() == {"user": "grace"}
            async with client.stream("GET", "/hello") as response:
                assert [piece async for piece in response.aiter_bytes()] == [b"hello"]
        assert app.state.events == ["startup", "shutdown"]

    asyncio.run(scenario())


def test_a_body_over_the_apps_limit_is_refused_as_on_a_socket():
    app = App(max_body_size=10)

    @app.post("/echo")
    async def echo(request):
        return request.body

    with TestClient(app) as client:
        assert client.post("/echo", content=b"x" * 10).content == b"x" * 10
        refused = client.post("/echo", content=b"x" * 11)
        assert refused.status_code == 413
        assert refused.headers["connection"] == "close"


@pytest.mark.parametrize("name", ["get", "post", "put", "patch", "delete", "head", "options"])
def test_every_method_helper(name):
    with TestClient(make_app()) as client:
        assert getattr(client, name)("/inspect").status_code in (200, 204)
