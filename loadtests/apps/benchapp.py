"""The application the benchmark serves (`loadtests/bench.py`): the demo's
`/hello`, `/json` and `/echo`, and what the wider rows need.

| route | what it answers |
|---|---|
| `GET /hello`, `GET /json`, `POST /echo` | the demo's own handlers |
| `GET /sync/hello`, `GET /sync/json` | the same written as plain `def` (run in a thread) |
| `GET /bytes` | 1,000,000 bytes, `application/octet-stream` |
| `POST /upload` | reads the whole body, answers its length as text |
| `/static/...` | `static()` over `$BENCH_STATIC_DIR`, where the benchmark writes its file (when set) |
| `GET /sse` | server-sent events: at each whole second, that second (Unix time) as the event's data |
| `GET /session` | reads the signed-cookie session, counts the request in it, answers the count |

The peers' apps in `loadtests/peers/` answer the same routes with the same bytes.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import AsyncIterator

from zerodep_http import App, Request, Response, StreamingResponse, demo

PAYLOAD = b"x" * 1_000_000
STATIC_DIR = os.environ.get("BENCH_STATIC_DIR")

app = App(secret_key="benchmark secret")
app.get("/hello")(demo.hello)
app.get("/json")(demo.json_document)
app.post("/echo")(demo.echo)
if STATIC_DIR is not None:  # the benchmark sets it; the instruction counts need not
    app.static("/static", STATIC_DIR)


@app.get("/sync/hello")
def sync_hello(request: Request) -> str:
    return "Hello, World!"


@app.get("/sync/json")
def sync_json(request: Request) -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/bytes")
async def payload(request: Request) -> Response:
    return Response(PAYLOAD, content_type="application/octet-stream")


@app.post("/upload")
async def upload(request: Request) -> str:
    return str(len(request.body))


@app.get("/sse")
async def sse(request: Request) -> StreamingResponse:
    async def ticks() -> AsyncIterator[str]:
        while True:
            now = time.time()
            tick = math.floor(now) + 1
            await asyncio.sleep(tick - now)
            yield f"data: {tick}\n\n"

    return StreamingResponse(ticks(), content_type="text/event-stream")


@app.get("/session")
async def session(request: Request) -> str:
    count = request.session.get("count", 0) + 1
    request.session["count"] = count
    return str(count)
