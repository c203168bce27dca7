"""Every example of the seed `httpserver` documentation, verbatim except for
the import (`from zerodep_http import ...`), served on a real socket.

Each snippet gets a fresh `app = App()`; `app.run(...)` lines are replaced by
the test's own server (the `app.run` path itself is covered in test_run.py).
"""

from __future__ import annotations

import textwrap

import httpx
import pytest

from zerodep_http import App

BASIC = '''
from zerodep_http import App, JSONResponse

app = App()

@app.get("/hello")
async def hello(request):
    return {"message": "Hello, World!"}

@app.post("/echo")
async def echo(request):
    return JSONResponse(request.json())
'''

PATH_PARAMS = '''
@app.get("/users/<int:id>")
async def get_user(request, id):
    return {"user_id": id}

@app.get("/files/<path:filepath>")
async def get_file(request, filepath):
    return {"path": filepath}
'''

MULTI_METHOD = '''
@app.route("/items", methods=["GET", "POST"])
async def items(request):
    if request.method == "GET":
        return {"items": []}
    data = request.json()
    return JSONResponse({"created": data}, status_code=201)
'''

QUERY_AND_HEADERS = '''
@app.get("/search")
async def search(request):
    q = request.query_params.get("q", [""])[0]
    auth = request.headers.get("authorization", "")
    return {"query": q, "auth_present": bool(auth)}
'''

SYNC = '''
@app.get("/sync")
def sync_handler(request):
    import time
    time.sleep(0.01)  # 阻塞 I/O 也没问题
    return {"sync": True}
'''

SSE = '''
from zerodep_http import StreamingResponse

@app.get("/events")
async def events(request):
    async def generate():
        for i in range(5):
            yield f"data: event {i}\\n\\n"

    return StreamingResponse(generate(), content_type="text/event-stream")
'''

STATIC = '''
app.static("/assets", "./public")
# GET /assets/style.css → 提供 ./public/style.css
'''

MIDDLEWARE = '''
@app.before_request
async def auth_check(request):
    if not request.headers.get("authorization"):
        return JSONResponse({"error": "unauthorized"}, status_code=401)

@app.after_request
async def add_cors(request, response):
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response

@app.errorhandler(404)
async def not_found(request, exc):
    return JSONResponse({"error": "not found"}, status_code=404)

@app.errorhandler(ValueError)
async def bad_value(request, exc):
    return JSONResponse({"error": str(exc)}, status_code=400)
'''

FILE_RESPONSE = '''
from zerodep_http import FileResponse

@app.get("/download")
async def download(request):
    return FileResponse("report.pdf")
'''

COERCION = '''
@app.get("/dict")
async def as_dict(request):
    return {"key": "value"}           # → JSONResponse

@app.get("/text")
async def as_text(request):
    return "Hello"                     # → Response (text/plain)

@app.get("/bytes")
async def as_bytes(request):
    return b"\\x89PNG..."               # → Response (application/octet-stream)

@app.get("/tuple")
async def as_tuple(request):
    return {"ok": True}, 201           # → JSONResponse,状态码 201

@app.get("/empty")
async def as_none(request):
    return None                        # → 204 No Content
'''

SHUTDOWN = '''
@app.post("/shutdown")
async def trigger_shutdown(request):
    request.app.shutdown()
    return {"status": "shutting down"}
'''


def build(*snippets: str) -> App:
    """Execute seed snippets against one fresh `app`."""
    namespace: dict = {}
    exec("from zerodep_http import App, JSONResponse\napp = App()\n", namespace)
    for snippet in snippets:
        exec(textwrap.dedent(snippet), namespace)
    return namespace["app"]


@pytest.fixture
def http(serve):
    """``http(app)`` → an httpx client for a served app."""
    clients = []

    def connect(app: App) -> httpx.Client:
        server = serve(app)
        client = httpx.Client(base_url=server.url, timeout=10)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


def test_basic_app(http):
    namespace: dict = {}
    exec(BASIC, namespace)
    client = http(namespace["app"])
    response = client.get("/hello")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Hello, World!"}
    response = client.post("/echo", json={"a": [1, 2, {"b": None}], "ü": "ß"})
    assert response.status_code == 200
    assert response.json() == {"a": [1, 2, {"b": None}], "ü": "ß"}


def test_path_parameters(http):
    client = http(build(PATH_PARAMS))
    response = client.get("/users/42")
    assert response.json() == {"user_id": 42}
    assert client.get("/users/abc").status_code == 404
    assert client.get("/files/a/b/c.txt").json() == {"path": "a/b/c.txt"}
    # The path is percent-decoded before matching.
    assert client.get("/files/with%20space/x").json() == {"path": "with space/x"}


def test_multi_method_route(http):
    client = http(build(MULTI_METHOD))
    assert client.get("/items").json() == {"items": []}
    response = client.post("/items", json={"name": "widget"})
    assert response.status_code == 201
    assert response.json() == {"created": {"name": "widget"}}
    response = client.delete("/items")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST", "HEAD"}


def test_query_params_and_headers(http):
    client = http(build(QUERY_AND_HEADERS))
    assert client.get("/search?q=cats").json() == {"query": "cats", "auth_present": False}
    response = client.get("/search", params={"q": "a b&c"}, headers={"Authorization": "Bearer x"})
    assert response.json() == {"query": "a b&c", "auth_present": True}
    assert client.get("/search").json() == {"query": "", "auth_present": False}


def test_sync_handler(http):
    client = http(build(SYNC))
    assert client.get("/sync").json() == {"sync": True}


def test_sse_example(http):
    client = http(build(SSE))
    with client.stream("GET", "/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers.get("transfer-encoding") == "chunked"
        body = b"".join(response.iter_bytes())
    assert body == b"".join(f"data: event {i}\n\n".encode() for i in range(5))


def test_static_example(http, tmp_path, monkeypatch):
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "style.css").write_text("body { color: red; }\n")
    monkeypatch.chdir(tmp_path)
    client = http(build(STATIC))
    response = client.get("/assets/style.css")
    assert response.status_code == 200
    assert response.text == "body { color: red; }\n"
    assert response.headers["content-type"].startswith("text/css")
    assert client.get("/assets/missing.css").status_code == 404


def test_middleware_example(http):
    app = build(MIDDLEWARE, '''
@app.get("/private")
async def private(request):
    return {"secret": 1}

@app.get("/value")
async def value(request):
    raise ValueError("bad number")
''')
    client = http(app)
    response = client.get("/private")
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert response.headers["access-control-allow-origin"] == "*"

    auth = {"Authorization": "token"}
    response = client.get("/private", headers=auth)
    assert response.status_code == 200
    assert response.json() == {"secret": 1}
    assert response.headers["access-control-allow-origin"] == "*"

    response = client.get("/nowhere", headers=auth)
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}
    assert response.headers["access-control-allow-origin"] == "*"

    response = client.get("/value", headers=auth)
    assert response.status_code == 400
    assert response.json() == {"error": "bad number"}


def test_file_response_example(http, tmp_path, monkeypatch):
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 10
    (tmp_path / "report.pdf").write_bytes(pdf)
    monkeypatch.chdir(tmp_path)
    client = http(build(FILE_RESPONSE))
    response = client.get("/download")
    assert response.status_code == 200
    assert response.content == pdf
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(pdf))


def test_return_value_coercion_example(http):
    client = http(build(COERCION))
    response = client.get("/dict")
    assert response.json() == {"key": "value"}
    assert response.headers["content-type"] == "application/json"

    response = client.get("/text")
    assert response.text == "Hello"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"

    response = client.get("/bytes")
    assert response.content == b"\x89PNG..."
    assert response.headers["content-type"] == "application/octet-stream"

    response = client.get("/tuple")
    assert response.status_code == 201
    assert response.json() == {"ok": True}

    response = client.get("/empty")
    assert response.status_code == 204
    assert response.content == b""
    assert "content-length" not in response.headers


def test_graceful_shutdown_example(serve):
    server = serve(build(SHUTDOWN))
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = client.post("/shutdown")
    assert response.status_code == 200
    assert response.json() == {"status": "shutting down"}
    assert server.wait_stopped(10), "the server kept running after request.app.shutdown()"
