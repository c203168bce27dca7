"""Starlette app with the same three endpoints as ``zerodep_http.demo``.

Served by uvicorn and granian in ``loadtests/bench.py`` so that every server
answers the very same requests with the very same bytes.
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


async def hello(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


async def json_message(request: Request) -> Response:
    return JSONResponse({"message": "Hello, World!"})


async def echo(request: Request) -> Response:
    body = await request.body()
    media_type = request.headers.get("content-type", "application/octet-stream")
    return Response(body, media_type=media_type)


app = Starlette(
    routes=[
        Route("/hello", hello, methods=["GET"]),
        Route("/json", json_message, methods=["GET"]),
        Route("/echo", echo, methods=["POST"]),
    ]
)
