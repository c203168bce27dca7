"""Serving listening sockets: connections, deadlines and graceful drain."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from email.utils import formatdate
from collections.abc import Callable
from typing import TYPE_CHECKING

from .parser import Limits
from .protocol import HTTPProtocol
from .responses import Response

if TYPE_CHECKING:
    from .app import App
    from .requests import Request

#: Called once per response: (request, status, body bytes sent, seconds taken).
AccessLog = Callable[["Request", int, int, float], None]


class Server:
    """Serves an `App` on already-bound sockets.

    Deadlines are checked by one timer per server, once a second, rather
    than a timer per request: the per-request path only stores a number.
    The same tick refreshes the cached `Date` header.
    """

    def __init__(self, app: App, *, limits: Limits | None = None, keep_alive: float = 5.0,
                 read_timeout: float | None = None, health_path: str | None = None,
                 ready_path: str | None = None, access_log: AccessLog | None = None) -> None:
        self.app = app
        self.limits = limits or Limits(body_size=app.max_body_size)
        self.keep_alive = keep_alive
        self.read_timeout = app.read_timeout if read_timeout is None else read_timeout
        self.connections: set[HTTPProtocol] = set()
        self.draining = False
        # Readiness fails from the moment a drain is announced, which may be
        # before the server stops accepting (a load balancer's drain delay).
        self.ready = True
        self.access_log = access_log
        self.health_path = health_path
        self.ready_path = ready_path
        self.probe_paths = frozenset(p for p in (health_path, ready_path) if p) or None
        self.requests_served = 0
        self.date = formatdate(usegmt=True)
        self._servers: list[asyncio.Server] = []
        self._ticker: asyncio.TimerHandle | None = None

    def probe_response(self, path: str) -> Response:
        """Answer the health or readiness endpoint without the application."""
        if path == self.ready_path and not (self.ready and not self.draining):
            return Response("draining\n", 503)
        return Response("ok\n")

    async def start(self, sockets: list[socket.socket], *, ssl_context: ssl.SSLContext | None = None,
                    backlog: int = 2048) -> None:
        loop = asyncio.get_running_loop()
        for sock in sockets:
            server = await loop.create_server(
                lambda: HTTPProtocol(self), sock=sock, ssl=ssl_context, backlog=backlog)
            self._servers.append(server)
        self._tick()

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = time.time()
        self.date = formatdate(now, usegmt=True)
        monotonic = loop.time()
        for connection in [c for c in self.connections
                           if c.deadline is not None and c.deadline <= monotonic]:
            connection.on_deadline()
        # Wake at the next wall-clock second so that `Date` is never stale.
        self._ticker = loop.call_later(1.0 - now % 1.0, self._tick)

    async def shutdown(self, timeout: float, force: asyncio.Event | None = None) -> None:
        """Stop accepting, close idle connections, let requests in flight
        finish (answered with `Connection: close`) for up to `timeout`
        seconds, then drop whatever is left."""
        self.draining = True
        self.ready = False
        for server in self._servers:
            server.close()
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout
        while self.connections and loop.time() < give_up and not (force and force.is_set()):
            for connection in list(self.connections):
                connection.close_if_idle()
            await asyncio.sleep(0.05)
        for connection in list(self.connections):
            connection.abort()
        if self._ticker is not None:
            self._ticker.cancel()
