"""Microdot app with the same three endpoints as ``zerodep_http.demo``.

Built on ``microdot.asgi`` and served by uvicorn in ``loadtests/bench.py``:
Microdot's documentation points CPython deployments at an ASGI server, its
built-in server being meant for MicroPython.
"""

from microdot.asgi import Microdot

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
