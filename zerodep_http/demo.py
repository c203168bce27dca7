"""The built-in demo, served when no application is named.

It shows what the server does in a browser: a clock pushed over
server-sent events, a JSON endpoint, an echo endpoint and a static file.
Its `/hello`, `/json` and `/echo` endpoints are also what the benchmark
measures.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

from . import App, Request, Response, StreamingResponse, __version__

app = App()
app.static("/static", os.path.join(os.path.dirname(__file__), "demo-static"))

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>zerodep-http</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
  #clock { font: 2.5rem ui-monospace, monospace; }
  code, textarea, pre { font-family: ui-monospace, monospace; }
  textarea { width: 100%; }
</style>
</head>
<body>
<h1>zerodep-http {version}</h1>
<p>A production HTTP/1.1 server for Python, standard library only.</p>
<h2>Live clock</h2>
<p id="clock">connecting…</p>
<p>Pushed once a second over server-sent events from <a href="/events">/events</a>.</p>
<h2>Endpoints</h2>
<ul>
  <li><a href="/json">/json</a>: a JSON document</li>
  <li><a href="/hello">/hello</a>: plain text</li>
  <li><a href="/static/hello.txt">/static/hello.txt</a>: a static file (ETag, ranges)</li>
  <li><code>POST /echo</code>: sends the body back</li>
</ul>
<form id="echo">
  <textarea id="message" rows="2">Hello, echo!</textarea>
  <button>POST /echo</button>
</form>
<pre id="echoed"></pre>
<script>
  const clock = document.getElementById("clock");
  new EventSource("/events").onmessage = (event) => { clock.textContent = event.data; };
  document.getElementById("echo").onsubmit = async (event) => {
    event.preventDefault();
    const body = document.getElementById("message").value;
    const reply = await fetch("/echo", {method: "POST", body, headers: {"content-type": "text/plain"}});
    document.getElementById("echoed").textContent = await reply.text();
  };
</script>
</body>
</html>
"""


@app.get("/")
async def index(request: Request) -> Response:
    return Response(PAGE.replace("{version}", __version__), content_type="text/html; charset=utf-8")


@app.get("/hello")
async def hello(request: Request) -> str:
    return "Hello, World!"


@app.get("/json")
async def json_document(request: Request) -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.post("/echo")
async def echo(request: Request) -> Response:
    content_type = request.headers.get("content-type", "application/octet-stream")
    return Response(request.body, content_type=content_type)


@app.get("/events")
async def events(request: Request) -> StreamingResponse:
    async def clock() -> AsyncIterator[str]:
        while True:
            yield f"data: {time.strftime('%H:%M:%S')}\n\n"
            # Wake just past the next second: an early wake-up would repeat one.
            await asyncio.sleep(1.005 - time.time() % 1.0)

    return StreamingResponse(clock(), content_type="text/event-stream")
