"""Sanic app with the same three endpoints as ``zerodep_http.demo``.

Served by Sanic's own server (``sanic sanic_app:app``) in ``loadtests/bench.py``.
"""

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json, raw, text

app = Sanic("bench")


@app.get("/hello")
async def hello(request: Request) -> HTTPResponse:
    return text("Hello, World!")


@app.get("/json")
async def json_message(request: Request) -> HTTPResponse:
    return json({"message": "Hello, World!"})


@app.post("/echo")
async def echo(request: Request) -> HTTPResponse:
    content_type = request.headers.get("content-type", "application/octet-stream")
    return raw(request.body, content_type=content_type)
