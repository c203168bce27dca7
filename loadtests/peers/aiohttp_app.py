"""aiohttp app with the routes of ``loadtests/apps/benchapp.py`` but the
``/sync`` ones (aiohttp handlers are coroutines).

Served by gunicorn with aiohttp's ``GunicornUVLoopWebWorker`` in
``loadtests/bench.py``; ``/static`` is aiohttp's ``add_static``.
"""

import asyncio
import math
import os
import time

from aiohttp import web

PAYLOAD = b"x" * 1_000_000


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, World!")


async def json_message(request: web.Request) -> web.Response:
    return web.json_response({"message": "Hello, World!"})


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    return web.Response(body=body, headers={"Content-Type": content_type})


async def payload(request: web.Request) -> web.Response:
    return web.Response(body=PAYLOAD, content_type="application/octet-stream")


async def upload(request: web.Request) -> web.Response:
    return web.Response(text=str(len(await request.read())))


async def sse(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    while True:
        now = time.time()
        tick = math.floor(now) + 1
        await asyncio.sleep(tick - now)
        await response.write(f"data: {tick}\n\n".encode())


app = web.Application()
app.router.add_get("/hello", hello, allow_head=False)
app.router.add_get("/json", json_message, allow_head=False)
app.router.add_post("/echo", echo)
app.router.add_get("/bytes", payload, allow_head=False)
app.router.add_post("/upload", upload)
app.router.add_get("/sse", sse, allow_head=False)
app.router.add_static("/static", os.environ["BENCH_STATIC_DIR"])
