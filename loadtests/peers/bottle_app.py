"""Bottle app with the same three endpoints as ``zerodep_http.demo``.

Served by gunicorn's sync workers in ``loadtests/bench.py`` (Bottle's own
default server is wsgiref, a single-threaded development server).
"""

from bottle import Bottle, request, response

app = Bottle()


@app.get("/hello")
def hello() -> str:
    response.content_type = "text/plain; charset=utf-8"
    return "Hello, World!"


@app.get("/json")
def json_message() -> dict:
    return {"message": "Hello, World!"}


@app.post("/echo")
def echo() -> bytes:
    response.content_type = request.headers.get("Content-Type", "application/octet-stream")
    return request.body.read()
