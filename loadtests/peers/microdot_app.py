"""Microdot app with the routes of ``loadtests/apps/benchapp.py``.

Built on ``microdot.asgi`` and served by uvicorn in ``loadtests/bench.py``:
Microdot's documentation points CPython deployments at an ASGI server, its
built-in server being meant for MicroPython. Plain ``def`` handlers run in
a thread pool; ``/static`` is Microdot's ``send_file``.
"""

import asyncio
import math
import os
import time

from microdot.asgi import Microdot, Request, send_file
from microdot.sse import with_sse

PAYLOAD = b"x" * 1_000_000
STATIC_DIR = os.environ["BENCH_STATIC_DIR"]

# Microdot's request limit is 16 KiB, too small for /upload.
Request.max_content_length = Request.max_body_length = 2_000_000
app = Microdot()


@app.get("/hello")
async def hello(request):
    return "Hello, World!"


@app.get("/json")
async def json_message(request):
    return {"message": "Hello, World!"}


@app.post("/echo")
async def echo(request):
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    return request.body, 200, {"Content-Type": content_type}


@app.get("/sync/hello")
def sync_hello(request):
    return "Hello, World!"


@app.get("/sync/json")
def sync_json(request):
    return {"message": "Hello, World!"}


@app.get("/bytes")
async def payload(request):
    return PAYLOAD, 200, {"Content-Type": "application/octet-stream"}


@app.post("/upload")
async def upload(request):
    return str(len(request.body))


@app.get("/static/<path:path>")
async def static(request, path):
    if ".." in path.split("/"):
        return "Not found", 404
    return send_file(os.path.join(STATIC_DIR, path))


@app.get("/sse")
@with_sse
async def sse(request, stream):
    while True:
        now = time.time()
        tick = math.floor(now) + 1
        await asyncio.sleep(tick - now)
        await stream.send(tick)
