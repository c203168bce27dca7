"""`--metrics-bind`: the master answers Prometheus scrapes on its own listener.

It runs inside the master's select loop, without a thread (a thread in a
process that forks could hold a lock at the moment of a fork) and without
asyncio (the master has no event loop). A scrape is one small request and
one response of a few kilobytes; each connection answers once and closes.
Requests are read with the engine's own strict parser.
"""

from __future__ import annotations

import logging
import selectors
import socket
import time
from collections.abc import Callable
from http import HTTPStatus

from zerodep_http.binding import bind_tcp, format_address
from zerodep_http.parser import Limits, ProtocolError, RequestHead, RequestParser

from .exposition import CONTENT_TYPE

log = logging.getLogger("zerodep_http.error")

PATH = "/metrics"
#: Scrapers connected at once; more are closed at once (Prometheus sends one at a time).
MAX_CLIENTS = 16
#: A client must send its request and read the answer within this.
CLIENT_TIMEOUT = 10.0
_LIMITS = Limits(request_line=2048, header_fields=50, header_field_size=4096, body_size=0)


class _Client:
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.parser = RequestParser(_LIMITS)
        self.outgoing = b""


class MetricsServer:
    """Registers its sockets with the master's selector: the `data` of each
    key is the callable to run when it is ready."""

    def __init__(self, host: str, port: int, selector: selectors.BaseSelector,
                 render: Callable[[], bytes]) -> None:
        self.selector = selector
        self.render = render
        self.sock = bind_tcp(host, port, backlog=64)  # BindError says why not
        self.clients: dict[socket.socket, _Client] = {}
        selector.register(self.sock, selectors.EVENT_READ, self._accept)

    def url(self) -> str:
        return f"http://{format_address(self.sock.getsockname())}{PATH}"

    def sockets(self) -> list[socket.socket]:
        """Everything a forked worker must close."""
        return [self.sock, *self.clients]

    def close(self) -> None:
        for client in list(self.clients.values()):
            self._drop(client)
        self.selector.unregister(self.sock)
        self.sock.close()

    def expire(self) -> None:
        """Drop clients that took too long (called every time round the loop)."""
        now = time.monotonic()
        for client in [c for c in self.clients.values() if c.deadline < now]:
            self._drop(client)

    def _accept(self, events: int) -> None:
        while True:
            try:
                sock, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors: try again next time round
                log.warning("Metrics listener: cannot accept (%s)", exc.strerror or exc)
                return
            if len(self.clients) >= MAX_CLIENTS:
                sock.close()
                continue
            sock.setblocking(False)
            client = _Client(sock, time.monotonic() + CLIENT_TIMEOUT)
            self.clients[sock] = client
            self.selector.register(sock, selectors.EVENT_READ, lambda ev, c=client: self._ready(c))

    def _ready(self, client: _Client) -> None:
        if client.outgoing:
            self._write(client)
            return
        try:
            data = client.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        client.parser.feed(data)
        try:
            event = client.parser.next_event()
        except ProtocolError as exc:
            self._answer(client, exc.status, f"{exc.reason}\n".encode())
            return
        if event.__class__ is tuple:  # a RequestHead
            self._answer(client, *self._respond(event))  # type: ignore[arg-type]

    def _respond(self, head: RequestHead) -> tuple[int, bytes, str]:
        method, target = head[0], head[1]
        if target.partition("?")[0] != PATH:
            return 404, b"Not Found: metrics are at /metrics\n", "text/plain; charset=utf-8"
        if method != "GET":
            return 405, b"Method Not Allowed\n", "text/plain; charset=utf-8"
        try:
            body = self.render()
        except Exception:
            log.exception("Cannot render the metrics")
            return 500, b"Internal Server Error\n", "text/plain; charset=utf-8"
        return 200, body, CONTENT_TYPE

    def _answer(self, client: _Client, status: int, body: bytes,
                content_type: str = "text/plain; charset=utf-8") -> None:
        head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"content-type: {content_type}\r\n"
                f"content-length: {len(body)}\r\n"
                + ("allow: GET\r\n" if status == 405 else "")
                + "connection: close\r\n\r\n")
        client.outgoing = head.encode("latin-1") + body
        self.selector.modify(client.sock, selectors.EVENT_WRITE,
                             lambda ev, c=client: self._ready(c))
        self._write(client)

    def _write(self, client: _Client) -> None:
        try:
            sent = client.sock.send(client.outgoing)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(client)
            return
        client.outgoing = client.outgoing[sent:]
        if not client.outgoing:
            self._drop(client)

    def _drop(self, client: _Client) -> None:
        self.clients.pop(client.sock, None)
        try:
            self.selector.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()
