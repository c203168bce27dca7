"""ASGI 3 applications, served by the connection like any other
(`exchange.Application`): one call of the application per request
(`asgi_http`: the `http` scope's messages), and the lifespan around them
(`asgi_lifespan`).

The scope carries what the ASGI HTTP spec 2.4 lists: the path as decoded
and as sent, the root path, the header fields in order with repeats,
client and server, and a copy of the lifespan's `state`.
"""

from __future__ import annotations

from typing import Any

from . import defaults
from .asgi_http import HTTPCycle
from .asgi_lifespan import Lifespan
from .exchange import Channel
from .hosting import split_root_path
from .parser import field_lines
from .requests import Request
from .responses import Response

#: What this server implements: ASGI 3, HTTP spec 2.4 (send raises once
#: the client left; see `connection_scope`), and the extension that sends
#: a file by its path.
EXTENSIONS = {"http.response.pathsend": {}}


class ASGIApplication:
    """Serves an ASGI 3 application: `handle` per request, `startup` and
    `cleanup` run its lifespan (`lifespan` is `auto`, `on` or `off`).

    `root_path` is where a proxy mounts the application (`--root-path`):
    it is the scope's `root_path`, and the scope's `path` carries it too,
    as the spec has it, whether the proxy passed it on or stripped it.
    """

    def __init__(self, app: Any, *, root_path: str = "", lifespan: str = defaults.LIFESPAN) -> None:
        self.app = app
        self.root_path = root_path or ""
        self.lifespan = Lifespan(app, lifespan)

    async def startup(self) -> None:
        await self.lifespan.startup()

    async def cleanup(self, timeout: float) -> None:
        await self.lifespan.shutdown(timeout)

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
            "asgi": {"version": "3.0", "spec_version": "2.4"},
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
