"""Serving listening sockets: connections, deadlines and graceful drain."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from email.utils import formatdate
from time import monotonic
from typing import TYPE_CHECKING, Protocol

from . import defaults
from .acceptor import Acceptor
from .protocol import APP, BODY, STREAM, ConnectionSettings, HTTPProtocol
from .responses import Response

if TYPE_CHECKING:
    from .exchange import Application

_HANDLING = frozenset({BODY, APP, STREAM})


class Balance(Protocol):
    """Shares out connections among processes that accept from the same
    sockets (the supervisor's workers)."""

    def may_accept(self, connections: int) -> bool: ...
    def update(self, connections: int) -> None: ...
    def leave(self) -> None: ...


class Connection(Protocol):
    """What the server asks of every connection it keeps: HTTP ones, and
    the protocols they switch to."""

    deadline: float | None
    phase: str

    def on_deadline(self) -> None: ...
    def going_away(self) -> None: ...
    def close_if_idle(self) -> bool: ...
    def abort(self) -> None: ...


class Server:
    """Serves an application on already-bound sockets.

    Deadlines are checked by one timer per server, once a second, rather
    than a timer per request: the per-request path only stores a number.
    The same tick refreshes the cached `Date` header.
    """

    def __init__(self, application: Application, settings: ConnectionSettings = ConnectionSettings(),
                 *, health_path: str | None = None, ready_path: str | None = None,
                 balance: Balance | None = None) -> None:
        self.application = application
        # The connections answer these paths with `probe_response`.
        probe_paths = frozenset(p for p in (health_path, ready_path) if p) or None
        self.settings = replace(settings, probe_paths=probe_paths)
        self.connections: set[Connection] = set()
        self.draining = False
        # Readiness fails from the moment a drain is announced, which may be
        # before the server stops accepting (a load balancer's drain delay).
        self.ready = True
        self.health_path = health_path
        self.ready_path = ready_path
        self.requests_served = 0
        # When `requests_served` reaches it, `on_max_requests()` is called,
        # once, at that moment (the supervisor's --max-requests); 0: never.
        self.max_requests = 0
        self.on_max_requests: Callable[[], None] | None = None
        self.date_line = self._date_line(time.time())
        self.balance = balance
        self._acceptors: list[Acceptor] = []
        self._ticker: asyncio.TimerHandle | None = None

    @staticmethod
    def _date_line(now: float) -> bytes:
        return b"date: %s\r\n" % formatdate(now, usegmt=True).encode()

    def probe_response(self, path: str) -> Response:
        """Answer the health or readiness endpoint without the application."""
        if path == self.ready_path and not (self.ready and not self.draining):
            return Response("draining\n", 503)
        return Response("ok\n")

    async def start(self, sockets: list[socket.socket], *, ssl_context: ssl.SSLContext | None = None,
                    backlog: int = defaults.BACKLOG, shared: Collection[socket.socket] = ()) -> None:
        """Accept on `sockets`; on those `shared` with sibling processes,
        only when `self.balance` says it is this process's turn."""
        balance = self.balance
        gate = None
        if balance is not None:
            gate = lambda: balance.may_accept(self.open_connections())  # noqa: E731
        for sock in sockets:
            sock.setblocking(False)
            sock.listen(backlog)
            gated = gate if sock in shared else None
            acceptor = Acceptor(sock, self.protocol_factory, ssl_context=ssl_context,
                                gate=gated, on_accept=self.connections_changed)
            acceptor.resume()
            self._acceptors.append(acceptor)
        self._tick()

    def protocol_factory(self) -> HTTPProtocol:
        return HTTPProtocol(self.application, self.settings, self)

    def open_connections(self) -> int:
        return len(self.connections) + sum(a.setting_up for a in self._acceptors)

    def requests_in_progress(self) -> int:
        """Requests between a whole head and the end of their response."""
        return sum(c.phase in _HANDLING for c in self.connections)

    def connections_changed(self) -> None:
        if self.balance is not None:
            self.balance.update(self.open_connections())

    def connection_made(self, connection: Connection) -> None:
        self.connections.add(connection)

    def connection_closed(self, connection: Connection) -> None:
        self.connections.discard(connection)
        if self.balance is not None:
            self.connections_changed()
            for acceptor in self._acceptors:
                acceptor.retry_now()  # a gate that held back may say yes now

    def stop_accepting(self, take_queued: bool = True) -> None:
        """Stop reading the listening sockets and let go of them.

        `take_queued` first accepts what is still queued, since this process
        may be the last holder of a listener, whose queue the kernel resets
        when it closes."""
        if self.balance is not None:
            self.balance.leave()
        for acceptor in self._acceptors:
            acceptor.close(take_queued)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = time.time()
        self.date_line = self._date_line(now)
        # Connections keep their deadlines on time.monotonic(), which is
        # cheaper to read per request than loop.time().
        clock = monotonic()
        for connection in [c for c in self.connections
                           if c.deadline is not None and c.deadline <= clock]:
            connection.on_deadline()
        # Wake at the next wall-clock second so that `Date` is never stale.
        self._ticker = loop.call_later(1.0 - now % 1.0, self._tick)

    async def shutdown(self, timeout: float, force: asyncio.Event | None = None,
                       idle_grace: float = 1.0) -> None:
        """Stop accepting, let requests in flight finish (answered with
        `Connection: close`) for up to `timeout` seconds, then drop whatever
        is left.

        A keep-alive connection between requests gets `idle_grace` seconds
        before it is closed: a busy client sends its next request well within
        it and gets `Connection: close` with the answer, whereas closing at
        once would race with a request already on the wire (a reset).
        """
        self.draining = True
        self.ready = False
        # Listeners first: a client told to go away (a WebSocket's 1001)
        # that reconnects at once must reach another process, not this one.
        self.stop_accepting(take_queued=not (force is not None and force.is_set()))
        for connection in list(self.connections):
            connection.going_away()
        loop = asyncio.get_running_loop()
        now = loop.time()
        give_up, close_idle = now + timeout, now + min(idle_grace, timeout)
        while self.open_connections() and loop.time() < give_up and not (force and force.is_set()):
            if loop.time() >= close_idle:
                for connection in list(self.connections):
                    connection.close_if_idle()
            await asyncio.sleep(0.02)
        for connection in list(self.connections):
            connection.abort()
        if self._ticker is not None:
            self._ticker.cancel()
