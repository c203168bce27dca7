"""The application the locust suites load: the demo's endpoints plus what
the demo lacks for a realistic load test.

    zerodep-http loadtests.apps.loadapp:app -w 2        (from the repository root)

| route | what it answers |
|---|---|
| `GET /hello`, `GET /json`, `POST /echo` | as in the demo (`/echo` sends the body back with its content type) |
| `GET /items/<int:item_id>` | `{"id", "name", "price"}`; id 0 is a 404 from `abort()` |
| `POST /items` | 201 with `{"created": <the JSON body>}` |
| `GET /users/<name>/orders/<int:order_id>` | `{"user", "order"}` (percent-decoded name) |
| `GET /slow?ms=N` | answers after N ms (an `asyncio.sleep`; at most 30 s) |
| `GET /events?count=N&interval=S` | a bounded SSE stream: N `tick` events S seconds apart, then one `end` event |
| `GET /pid` | the answering worker's pid |
| `/static/...` | the generated files of `loadtests/apps/content.py` |

The static files live in `$LOADTEST_STATIC_DIR` (the runner makes a
temporary one per run), else in `loadtests/apps/_static/`; each worker
writes them on import if they are missing, with a fixed mtime, so every
worker serves the same validators.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator

from zerodep_http import (
    App,
    HTTPException,
    JSONResponse,
    Request,
    StreamingResponse,
    abort,
)

from zerodep_http import demo

from . import content

STATIC_DIR = os.environ.get("LOADTEST_STATIC_DIR") or os.path.join(os.path.dirname(__file__), "_static")
content.ensure(STATIC_DIR)

app = App()
app.static("/static", STATIC_DIR)

MAX_SLOW_MS = 30_000
MAX_EVENTS = 10_000
MAX_INTERVAL = 10.0


def _number(request: Request, name: str, default: float, kind: type = int) -> float:
    values = request.query_params.get(name)
    if not values:
        return default
    try:
        value = kind(values[0])
    except ValueError:
        raise HTTPException(400, f"{name} must be a number") from None
    if value < 0:
        raise HTTPException(400, f"{name} must not be negative")
    return value


# The demo's own handlers, so that both apps answer these exactly alike.
app.get("/hello")(demo.hello)
app.get("/json")(demo.json_document)
app.post("/echo")(demo.echo)


@app.get("/items/<int:item_id>")
async def get_item(request: Request, item_id: int) -> dict[str, object]:
    if item_id == 0:
        abort(404)
    return {"id": item_id, "name": f"item {item_id}", "price": round(item_id * 0.25, 2)}


@app.post("/items")
async def create_item(request: Request) -> JSONResponse:
    return JSONResponse({"created": request.json()}, status_code=201)


@app.get("/users/<name>/orders/<int:order_id>")
async def user_order(request: Request, name: str, order_id: int) -> dict[str, object]:
    return {"user": name, "order": order_id}


@app.get("/slow")
async def slow(request: Request) -> dict[str, int]:
    ms = min(int(_number(request, "ms", 1000)), MAX_SLOW_MS)
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms, "pid": os.getpid()}


@app.get("/pid")
async def pid(request: Request) -> dict[str, int]:
    return {"pid": os.getpid()}


@app.get("/events")
async def events(request: Request) -> StreamingResponse:
    count = min(int(_number(request, "count", 10)), MAX_EVENTS)
    interval = min(_number(request, "interval", 0.5, float), MAX_INTERVAL)
    worker = os.getpid()

    async def stream() -> AsyncIterator[str]:
        for seq in range(count):
            if seq:
                await asyncio.sleep(interval)
            data = json.dumps({"seq": seq, "pid": worker})
            yield f"id: {seq}\nevent: tick\ndata: {data}\n\n"
        yield f"event: end\ndata: {count}\n\n"

    return StreamingResponse(stream(), content_type="text/event-stream")
