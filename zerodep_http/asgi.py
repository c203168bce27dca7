"""ASGI 3 applications, served by the connection like any other
(`exchange.Application`): one call of the application per request
(`asgi_http`: the `http` scope's messages) and per WebSocket
(`asgi_websocket`: the `websocket` scope's, on the native WebSocket
engine), and the lifespan around them (`asgi_lifespan`).

The scopes carry what the ASGI HTTP and WebSocket spec 2.5 lists: the
path as decoded and as sent, the root path, the header fields in order
with repeats, client and server, and a copy of the lifespan's `state`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from . import defaults
from .asgi_http import HTTPCycle
from .asgi_lifespan import Lifespan
from .exchange import Channel
from .hosting import split_root_path
from .lifecycle import Lifecycle
from .parser import field_lines
from .requests import Request
from .responses import Response

#: What this server implements: ASGI 3, HTTP and WebSocket spec 2.5 (send
#: raises once the client left, a WebSocket disconnect has its reason: see
#: `connection_scope`), and the extension that sends a file by its path.
EXTENSIONS = {"http.response.pathsend": {}}


class ASGIApplication:
    """Serves an ASGI 3 application: `handle` per request, `startup` and
    `cleanup` run its lifespan (`lifespan` is `auto`, `on` or `off`);
    `cleanup` first lets its WebSocket sessions finish (`spawn`).

    `root_path` is where a proxy mounts the application (`--root-path`):
    it is the scope's `root_path`, and the scope's `path` carries it too,
    as the spec has it, whether the proxy passed it on or stripped it.
    """

    def __init__(self, app: Any, *, root_path: str = "", lifespan: str = defaults.LIFESPAN) -> None:
        self.app = app
        self.root_path = root_path or ""
        self.lifespan = Lifespan(app, lifespan)
        # The calls that outlive their request: WebSocket sessions.
        self._sessions = Lifecycle()

    async def startup(self) -> None:
        await self.lifespan.startup()

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run a call of the application that outlives its request (a
        WebSocket's); `cleanup` waits for it."""
        return self._sessions.spawn(awaitable)

    async def cleanup(self, timeout: float) -> None:
        """Let the WebSocket sessions end (a drain has closed their
        WebSockets), then shut the lifespan down, within `timeout` seconds."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        await self._sessions.cleanup(timeout)
        await self.lifespan.shutdown(max(0.0, give_up - loop.time()))

    def connection_scope(self, request: Request, kind: str, scheme: str) -> dict[str, Any]:
        """The keys an `http` and a `websocket` scope share."""
        path = request.path
        # Set only when the path was percent-decoded; else it is the path.
        raw_path = getattr(request, "path_as_sent", None) or path
        root_path = self.root_path
        if root_path and split_root_path(root_path, path)[1] is path:
            # The proxy stripped the prefix: the spec's path carries it.
            path, raw_path = root_path + path, root_path + raw_path
        scope = {
            "type": kind,
            "asgi": {"version": "3.0", "spec_version": "2.5"},
            "http_version": request.http_version,
            "scheme": scheme,
            "path": path,
            "raw_path": raw_path.encode("latin-1"),
            "query_string": request.query_string.encode("latin-1"),
            "root_path": root_path,
            "headers": [(name.encode("latin-1"), value.encode("latin-1"))
                        for name, value in (request.headers.items()
                                            if request.headers.__class__ is dict
                                            else field_lines(request.headers))],
            "client": request.client_addr,
            "server": _server(request.channel),
        }
        state = self.lifespan.state
        if state is not None:
            scope["state"] = state.copy()
        return scope

    def http_scope(self, request: Request) -> dict[str, Any]:
        scope = self.connection_scope(request, "http", request.scheme)
        scope["method"] = request.method
        scope["extensions"] = EXTENSIONS
        return scope

    async def handle(self, request: Request) -> Response | None:
        if "upgrade" in request.headers:
            # Imported here: an application never asked for a WebSocket
            # never loads the WebSocket engine.
            from .asgi_websocket import serve_websocket
            from .ws_handshake import is_upgrade_request
            if is_upgrade_request(request.headers):
                return await serve_websocket(self, request)
        cycle = HTTPCycle(request)
        try:
            await self.app(self.http_scope(request), cycle.receive, cycle.send)
        except Exception as exc:
            return cycle.failed(exc)
        return cycle.returned()


def _server(channel: Channel) -> tuple[str, int | None] | None:
    try:
        address = channel.server_address()
    except (AttributeError, RuntimeError):  # a request built by hand
        return None
    if isinstance(address, str):
        return address, None
    return address
