"""Bottle app with the routes of ``loadtests/apps/benchapp.py`` but ``/sse``.

Served by gunicorn's sync workers in ``loadtests/bench.py`` (Bottle's own
default server is wsgiref, a single-threaded development server). Bottle's
handlers are plain functions, so ``/sync/hello`` and ``/sync/json`` are
``/hello`` and ``/json`` again; ``/static`` is Bottle's ``static_file``.
"""

import os

from bottle import Bottle, request, response, static_file

PAYLOAD = b"x" * 1_000_000
STATIC_DIR = os.environ["BENCH_STATIC_DIR"]

app = Bottle()


@app.get("/hello")
@app.get("/sync/hello")
def hello() -> str:
    response.content_type = "text/plain; charset=utf-8"
    return "Hello, World!"


@app.get("/json")
@app.get("/sync/json")
def json_message() -> dict:
    return {"message": "Hello, World!"}


@app.post("/echo")
def echo() -> bytes:
    response.content_type = request.headers.get("Content-Type", "application/octet-stream")
    return request.body.read()


@app.get("/bytes")
def payload() -> bytes:
    response.content_type = "application/octet-stream"
    return PAYLOAD


@app.post("/upload")
def upload() -> str:
    response.content_type = "text/plain; charset=utf-8"
    return str(len(request.body.read()))


@app.get("/static/<path:path>")
def static(path: str):
    return static_file(path, root=STATIC_DIR)
