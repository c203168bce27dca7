"""The Request object as handlers see it, over real sockets."""

from __future__ import annotations

import threading

import pytest

from zerodep_http import App, Request


@pytest.fixture
def app() -> App:
    app = App()
    seen: dict = {}
    app.seen = seen  # type: ignore[attr-defined]

    @app.route("/inspect/<path:rest>", methods=["GET", "POST"])
    async def inspect(request: Request, rest):
        seen["request"] = request
        return {
            "method": request.method,
            "path": request.path,
            "query_string": request.query_string,
            "query_params": request.query_params,
            "headers": request.headers,
            "body": request.body.decode("latin-1"),
            "path_params": request.path_params,
            "client_addr": list(request.client_addr) if request.client_addr else None,
            "app_is_app": request.app is app,
        }

    @app.post("/json")
    async def json_twice(request):
        first = request.json()
        second = request.json()
        return {"same_object": first is second, "data": first}

    @app.post("/text")
    async def text(request):
        return {"text": request.text()}

    @app.post("/form")
    async def form(request):
        return request.form()

    @app.get("/thread/async")
    async def async_thread(request):
        return {"ident": threading.get_ident(), "name": threading.current_thread().name}

    @app.get("/thread/sync")
    def sync_thread(request):
        return {"ident": threading.get_ident(), "name": threading.current_thread().name}

    @app.get("/sync-params/<int:n>")
    def sync_params(request, n):
        return {"n": n, "path_params": request.path_params}

    return app


def test_request_attributes(serve, raw_client, app):
    server = serve(app)
    client = raw_client(server)
    response = client.request(
        "POST", "/inspect/a%20b/c%2Fd?x=1&x=2&empty=&sp=a+b&pct=%26",
        headers=[("X-Mixed-Case", "Value"), ("Authorization", "Bearer t"),
                 ("content-type", "text/plain")],
        body=b"payload")
    assert response.status == 200
    data = response.json()
    assert data["method"] == "POST"
    assert data["path"] == "/inspect/a b/c/d"
    assert data["query_string"] == "x=1&x=2&empty=&sp=a+b&pct=%26"
    assert data["query_params"] == {"x": ["1", "2"], "empty": [""], "sp": ["a b"], "pct": ["&"]}
    headers = data["headers"]
    assert all(name == name.lower() for name in headers)
    assert headers["x-mixed-case"] == "Value"
    assert headers["authorization"] == "Bearer t"
    assert headers["host"] == "test"
    assert data["body"] == "payload"
    assert data["path_params"] == {"rest": "a b/c/d"}
    assert data["client_addr"] == list(client.sock.getsockname())
    assert data["app_is_app"] is True


def test_a_received_request_is_what_the_class_makes() -> None:
    """The connection builds its requests with `Request.received`, which
    stores the slots itself: every slot must hold what `Request()` puts
    there, and the lazily made ones must stay unset."""
    args = ("GET", "/a", "b=1", {"host": "x"})
    rest = (("127.0.0.1", 5), object(), "1.0", "https", object())
    received, made = Request.received(*args, *rest), Request(*args, b"", *rest)
    for name in Request.__slots__:
        assert hasattr(received, name) == hasattr(made, name), name
        if hasattr(made, name):
            assert getattr(received, name) == getattr(made, name), name
    assert received.path_params is not made.path_params  # each request its own
    assert received.query_params == {"b": ["1"]}


def test_request_without_query(serve, raw_client, app):
    data = raw_client(serve(app)).request("GET", "/inspect/x").json()
    assert data["query_string"] == ""
    assert data["query_params"] == {}
    assert data["body"] == ""


def test_json_is_cached(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("POST", "/json", body=b'{"k": [1, 2.5, "v"]}',
                              headers={"content-type": "application/json"})
    assert response.json() == {"same_object": True, "data": {"k": [1, 2.5, "v"]}}


def test_json_null_is_parsed_once_like_any_value(monkeypatch) -> None:
    from zerodep_http import requests as requests_module
    calls = []
    real_loads = requests_module.json.loads
    monkeypatch.setattr(requests_module.json, "loads",
                        lambda body: calls.append(body) or real_loads(body))
    request = Request("POST", "/", "", {}, b"null")
    assert request.json() is None and request.json() is None
    assert calls == [b"null"]


def test_invalid_json_is_a_client_error(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request("POST", "/json", body=b"{not json")
    assert response.status == 400
    assert b"Traceback" not in response.raw


def test_text(serve, raw_client, app):
    client = raw_client(serve(app))
    assert client.request("POST", "/text", body="zürich ✓".encode()).json() == {"text": "zürich ✓"}
    response = client.request("POST", "/text", body=b"\xff\xfe")
    assert response.status == 400


def test_form(serve, raw_client, app):
    client = raw_client(serve(app))
    response = client.request(
        "POST", "/form", body=b"a=1&b=x+y&a=2&c=%C3%A9&empty=",
        headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.json() == {"a": ["1", "2"], "b": ["x y"], "c": ["é"], "empty": [""]}


def test_sync_handlers_run_in_another_thread(serve, raw_client, app):
    server = serve(app)
    client = raw_client(server)
    loop_thread = client.request("GET", "/thread/async").json()
    worker_thread = client.request("GET", "/thread/sync").json()
    assert loop_thread["name"] == server.thread.name
    assert worker_thread["ident"] != loop_thread["ident"]
    assert worker_thread["name"] != server.thread.name


def test_sync_handler_gets_path_params(serve, raw_client, app):
    response = raw_client(serve(app)).request("GET", "/sync-params/12")
    assert response.json() == {"n": 12, "path_params": {"n": 12}}


def test_sync_handler_does_not_block_other_requests(serve, raw_client):
    app = App()
    release = threading.Event()

    @app.get("/block")
    def block(request):
        return {"released": release.wait(10)}

    @app.get("/release")
    async def do_release(request):
        release.set()
        return "ok"

    server = serve(app)
    blocked = raw_client(server)
    blocked.send_request("GET", "/block")
    # While the first handler blocks its thread, the loop still serves.
    assert raw_client(server).request("GET", "/release").text == "ok"
    assert blocked.read_response().json() == {"released": True}
