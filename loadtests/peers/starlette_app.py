"""Starlette app with the routes of ``loadtests/apps/benchapp.py``.

Served by uvicorn and granian in ``loadtests/bench.py`` so that every server
answers the very same requests with the very same bytes. Plain ``def``
endpoints run in Starlette's thread pool; ``/static`` is Starlette's
``StaticFiles`` under uvicorn, and granian's own static files under granian
(which answers the route before the app sees it).
"""

import asyncio
import math
import os
import time

from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, request_response
from starlette.staticfiles import StaticFiles

PAYLOAD = b"x" * 1_000_000
STATIC_DIR = os.environ["BENCH_STATIC_DIR"]


async def hello(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


async def json_message(request: Request) -> Response:
    return JSONResponse({"message": "Hello, World!"})


async def echo(request: Request) -> Response:
    body = await request.body()
    media_type = request.headers.get("content-type", "application/octet-stream")
    return Response(body, media_type=media_type)


def sync_hello(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


def sync_json(request: Request) -> Response:
    return JSONResponse({"message": "Hello, World!"})


async def payload(request: Request) -> Response:
    return Response(PAYLOAD, media_type="application/octet-stream")


async def upload(request: Request) -> Response:
    return PlainTextResponse(str(len(await request.body())))


async def sse(request: Request) -> Response:
    async def ticks():
        while True:
            now = time.time()
            tick = math.floor(now) + 1
            await asyncio.sleep(tick - now)
            yield f"data: {tick}\n\n"

    return StreamingResponse(ticks(), media_type="text/event-stream")


async def session_count(request: Request) -> Response:
    count = request.session.get("count", 0) + 1
    request.session["count"] = count
    return PlainTextResponse(str(count))


# SessionMiddleware around this endpoint alone: the other routes do not pay for it.
sessions = SessionMiddleware(request_response(session_count), secret_key="benchmark secret")

app = Starlette(
    routes=[
        Route("/session", sessions, methods=["GET"]),
        Route("/hello", hello, methods=["GET"]),
        Route("/json", json_message, methods=["GET"]),
        Route("/echo", echo, methods=["POST"]),
        Route("/sync/hello", sync_hello, methods=["GET"]),
        Route("/sync/json", sync_json, methods=["GET"]),
        Route("/bytes", payload, methods=["GET"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/sse", sse, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC_DIR)),
    ]
)
