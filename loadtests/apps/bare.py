"""The smallest ASGI and WSGI applications answering `/hello`, `/json` and
`/echo` as the benchmark's apps do: served by zerodep-http, what they cost
is the adapter's and the server's, since the applications do almost nothing
(`python loadtests/instructions.py /hello --app loadtests.apps.bare:asgi_app`).
"""

from __future__ import annotations

HELLO = (b"text/plain; charset=utf-8", b"Hello, World!")
JSON = (b"application/json", b'{"message":"Hello, World!"}')


async def asgi_app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    content_type, content = JSON if scope["path"] == "/json" else HELLO
    if scope["path"] == "/echo":
        content_type, content = b"application/octet-stream", body
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", content_type),
                            (b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})


def wsgi_app(environ, start_response):
    content_type, content = JSON if environ["PATH_INFO"] == "/json" else HELLO
    if environ["PATH_INFO"] == "/echo":
        content_type, content = b"application/octet-stream", environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", content_type.decode()),
                              ("Content-Length", str(len(content)))])
    return [content]
