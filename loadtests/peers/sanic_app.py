"""Sanic app with the routes of ``loadtests/apps/benchapp.py`` but the
``/sync`` ones (Sanic runs a plain function on its event loop, not in a
thread).

Served by Sanic's own server (``sanic sanic_app:app``) in
``loadtests/bench.py``; ``/static`` is Sanic's ``app.static``.
"""

import asyncio
import math
import os
import time

from sanic import Request, Sanic
from sanic.response import HTTPResponse, json, raw, text

PAYLOAD = b"x" * 1_000_000

app = Sanic("bench")
app.static("/static", os.environ["BENCH_STATIC_DIR"])


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


@app.get("/bytes")
async def payload(request: Request) -> HTTPResponse:
    return raw(PAYLOAD, content_type="application/octet-stream")


@app.post("/upload")
async def upload(request: Request) -> HTTPResponse:
    return text(str(len(request.body)))


@app.get("/sse")
async def sse(request: Request) -> None:
    response = await request.respond(content_type="text/event-stream")
    while True:
        now = time.time()
        tick = math.floor(now) + 1
        await asyncio.sleep(tick - now)
        await response.send(f"data: {tick}\n\n")
