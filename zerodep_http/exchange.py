"""The boundary between a connection and what it serves.

A connection (`protocol.HTTPProtocol`) owns the socket, the parser and the
framing. For each request it builds a `Request` and calls
`await application.handle(request)`: that is the whole interface. The
request carries its `channel`, the connection seen from the application:

- **the body's size limit**: before it takes any of a request's body, the
  connection asks `application.body_limit(request)` if the application
  has that method. An int is the largest body this request may have (a
  route's own limit, above or below the server's); None leaves the
  server's (`Limits.body_size`). A declared length over it is answered
  413 before any of the body is read, a chunked body as soon as its
  chunk sizes add up past it.
- **the request body**: `request.body` already holds it when it arrived
  with the head (the common case). Otherwise `channel.receiving` is True
  and `await channel.receive()` returns the next piece, `b""` at the end.
  The connection stops reading the socket while pieces wait unread
  (backpressure), sends `100 Continue` on the first `receive()` if the
  client asked for it, and raises `BodyError` (carrying 400, 408 or 413)
  or `ClientDisconnected` from `receive()` when the body cannot arrive.
- **the response**, in one of two ways. `handle` returns a response that
  describes its body (`Response.body` bytes, a `FileResponse`'s file
  region, a `StreamingResponse`'s async iterator, or `SwitchProtocol`) and
  the connection writes it. Or `handle` sends events itself, before it
  returns None: `channel.start_response(response, content_length)` (the
  status and header fields of `response`; its body is ignored), then any
  number of `await channel.send_body(data)` and
  `await channel.send_file(file, offset, length)` (each waits while the
  client is slow to read), then `channel.end_response()`. Without a
  length the body is chunked (HTTP/1.1) or delimited by closing (1.0).
- **the client going away**: `channel.closed` turns True and
  `await channel.wait_closed()` returns; `send_body` and `receive` raise
  `ClientDisconnected`. `wait_closed()` also returns when the client ends
  its side of the connection (a long poll's client is then as good as
  gone), though a response still reaches a client that only half-closed.
- **a response that cannot be finished** (the application failed after
  its head went out): `channel.abort()` drops the connection, so that the
  client cannot take a cut body for a whole one.
- **where the client connected**: `channel.server_address()`, (host,
  port) or a unix socket's path, for the adapters' `server` and
  `SERVER_NAME`.

Nothing on the application side writes to a transport. How the other
applications plug in here:

- **WebSocket**: a route's `handle` validates the handshake and returns
  `SwitchProtocol(protocol_factory, headers)` once the handler accepts
  (see `websocket`). The connection writes the 101 and hands the transport
  to the protocol that `protocol_factory(settings)` makes, given the
  connection's `ConnectionSettings` (`connection_made`, then any bytes
  already received); a client gone by then gets nothing, and the factory
  is not called. The server still counts and drains the connection: on a
  drain, or at once if the switch came after the drain began, it calls the
  protocol's `going_away()` if it has one (a WebSocket closes with 1001).
- **ASGI 3** (`asgi.ASGIApplication`): `handle` builds the scope from the
  request, maps `receive()` to `http.request` messages (`more_body` while
  `channel.receiving`) and then `http.disconnect` (`wait_closed`), and maps
  `http.response.start` / `.body` / `pathsend` to `start_response`,
  `send_body`, `send_file` and `end_response`; `abort()` when it fails
  mid-body (`asgi_http`). A WebSocket handshake becomes a `websocket`
  scope: the application runs in a task of its own and `handle` returns
  the `SwitchProtocol` once it accepts, as a native WebSocket route does
  (`asgi_websocket`).
- **WSGI** (`wsgi.WSGIApplication`): `handle` runs the callable in a
  thread pool; `wsgi.input` reads through `receive()` (called on the loop
  with `run_coroutine_threadsafe`), and the iterable's items come back to
  the loop for `send_body`, so a slow client holds a connection, not a
  thread.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from .exceptions import HTTPException
from .requests import Request
from .responses import Response


class ClientDisconnected(ConnectionResetError):
    """The client went away: nothing more can be read or sent."""


class BodyError(HTTPException):
    """The request body cannot be received (malformed, too large, too
    slow); `status_code` is the answer, after which the connection closes."""


class Channel(Protocol):
    """What an application may do with the connection of its request."""

    #: True while the application has more of the request body to read
    #: through `receive()`: pieces already received, or still to come.
    receiving: bool
    #: True once the client is gone.
    closed: bool
    #: The client sent `Expect: 100-continue` and nothing was read yet.
    expects_continue: bool
    #: The peer is a proxy trusted to say who the client is.
    trusted_proxy: bool
    #: The path prefix under which a proxy mounts the application.
    root_path: str

    async def receive(self) -> bytes: ...
    async def wait_closed(self) -> None: ...
    def start_response(self, response: Response, content_length: int | None = None) -> bool: ...
    async def send_body(self, data: bytes) -> None: ...
    async def send_file(self, file: BinaryIO, offset: int, length: int) -> None: ...
    def end_response(self) -> None: ...
    def abort(self) -> None: ...
    def server_address(self) -> tuple[str, int] | str | None: ...


class Application(Protocol):
    """What a connection serves: the native `App`, and adapters.

    It may also define `body_limit(request) -> int | None` (see above).
    """

    async def handle(self, request: Request) -> Response | None: ...


class Lifecycle(Protocol):
    """What an application may also have, called by whatever serves it
    (`app.run()`, each supervisor worker, the test client): `startup()`
    before the first request (raising means the process must not serve),
    `cleanup(timeout)` after the drain (background work and shutdown
    hooks, within `timeout` seconds)."""

    async def startup(self) -> None: ...
    async def cleanup(self, timeout: float) -> None: ...
