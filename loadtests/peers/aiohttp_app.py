"""aiohttp app with the same three endpoints as ``zerodep_http.demo``.

Served by gunicorn with aiohttp's ``GunicornUVLoopWebWorker`` in
``loadtests/bench.py``.
"""

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, World!")


async def json_message(request: web.Request) -> web.Response:
    return web.json_response({"message": "Hello, World!"})


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    return web.Response(body=body, headers={"Content-Type": content_type})


app = web.Application()
app.router.add_get("/hello", hello, allow_head=False)
app.router.add_get("/json", json_message, allow_head=False)
app.router.add_post("/echo", echo)
