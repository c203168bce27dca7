"""One connection's lifecycle: an asyncio Protocol around the parser.

The protocol feeds received bytes to the sans-I/O parser, builds a
`Request` from its events and hands it to the application it serves
(`exchange.Application`), then writes the response the application
describes or sends. It is also the request's `exchange.Channel`: the
application reads the rest of the body and sends response events through
it, and never touches the transport.

Requests on one connection are answered strictly in order: while one is
with the application, its body is still read, but pipelined bytes after it
wait in the parser's buffer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Container
from dataclasses import dataclass
from time import monotonic
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import unquote

from . import defaults
from .eager import EagerRunner
from .exceptions import HTTPException
from .exchange import BodyError, ClientDisconnected
from .files import FileResponse
from .parser import (
    END_OF_MESSAGE,
    Limits,
    ProtocolError,
    RequestParser,
    RequestTimeout,
)
from .proxy import forwarded_client, parse_proxy_header
from .requests import Request
# _PREFIXES: the heads `Response.head_prefix` caches, read in `_send_whole`.
from .responses import _PREFIXES, TEXT, Response, StreamingResponse, SwitchProtocol

if TYPE_CHECKING:
    from .exchange import Application

log = logging.getLogger("zerodep_http.error")

#: Called once per response: (request, status, body bytes sent, seconds taken).
AccessLog = Callable[[Request, int, int, float], None]

# Statuses whose responses never carry a body (RFC 9110 6.4.1).
_NO_BODY = frozenset({204, 304})
# Files up to this size go out in the same write as the head.
_SMALL_FILE = 64 * 1024
# Pipelined bytes buffered while a request is with the application before
# the connection stops reading from the socket.
_MAX_PIPELINE_BUFFER = 256 * 1024
# Request body received and not yet read by the application before the
# connection stops reading from the socket.
_MAX_UNREAD_BODY = 256 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# How long a connection closed with request bytes unread keeps dropping
# what still arrives (see `_close`).
_LINGER_SECONDS = 5.0
_received_request = Request.received
# The `content-length` field lines of the sizes sent so far (the first
# 1024 sizes): joining the pieces of a head costs half what formatting it does.
_LENGTH_LINES: dict[int, bytes] = {}
_join = b"".join


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """What every connection of a server is told once."""

    limits: Limits = defaults.LIMITS
    keep_alive: float = defaults.KEEP_ALIVE
    read_timeout: float = defaults.READ_TIMEOUT
    # Peers (IP text) whose Forwarded / X-Forwarded-* headers, and PROXY
    # protocol header when `proxy_protocol` is on, are believed.
    forwarded_allow_ips: Container[str] | None = None
    proxy_protocol: bool = False
    # Paths answered by the owner (health and readiness), not the app.
    probe_paths: frozenset[str] | None = None
    # The path prefix under which a proxy mounts the application.
    root_path: str = ""
    access_log: AccessLog | None = None
    # For the WebSockets this connection may switch to (see `websocket`).
    ws_max_message_size: int = defaults.WS_MAX_MESSAGE_SIZE
    ws_ping_interval: float = defaults.WS_PING_INTERVAL
    ws_ping_timeout: float = defaults.WS_PING_TIMEOUT


class ConnectionOwner(Protocol):
    """What a connection needs from the server that accepted it."""

    date_line: bytes       # the `date` header field line, refreshed every second
    draining: bool         # answer with `Connection: close` from now on
    requests_served: int   # counted by the connections
    max_requests: int      # when requests_served reaches it, call on_max_requests (0: never)
    on_max_requests: Callable[[], None] | None

    def connection_made(self, connection: HTTPProtocol) -> None: ...
    def connection_closed(self, connection: HTTPProtocol) -> None: ...
    def probe_response(self, path: str) -> Response: ...


# Where a connection is in its request cycle. Plain module constants, not
# an Enum or class attributes: the per-request path compares a dozen of
# them, and a global is one lookup.
IDLE = "idle"           # between requests, nothing received yet
HEAD = "head"           # part of a request head received
BODY = "body"           # head parsed, taking the body bytes already here
APP = "app"             # the application has the request
STREAM = "stream"       # a response of unknown length is being written
SWITCHED = "switched"   # handed to another protocol after a 101
LINGER = "linger"       # answered; dropping what the client still sends
CLOSED = "closed"


class _Relay(asyncio.Protocol):
    """The transport's protocol after a switch: passes everything on to the
    new protocol, and the end of the connection to the HTTP connection
    that the server still counts and drains."""

    # `data_received` is the new protocol's own bound method, called with
    # no relay frame in between: it is called for every piece received.
    __slots__ = ("connection", "protocol", "data_received")

    def __init__(self, connection: HTTPProtocol, protocol: asyncio.Protocol) -> None:
        self.connection, self.protocol = connection, protocol
        self.data_received = protocol.data_received  # type: ignore[method-assign]

    def eof_received(self) -> bool | None:
        return self.protocol.eof_received()

    def pause_writing(self) -> None:
        self.protocol.pause_writing()

    def resume_writing(self) -> None:
        self.protocol.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.protocol.connection_lost(exc)
        finally:
            self.connection.connection_lost(exc)


class _Discard:
    """Stands in for the parser while a connection lingers: what the
    connection adds to its buffer is dropped."""

    __slots__ = ()
    in_message = False

    @property
    def buffer(self) -> bytes:
        return b""

    @buffer.setter
    def buffer(self, dropped: bytes) -> None:
        pass


_DISCARD = _Discard()


class HTTPProtocol(asyncio.Protocol):
    """Serves HTTP/1.1 on one transport for an application."""

    # Slots: every request reads a few dozen of these, and an instance dict
    # this large would make each read a hashed lookup.
    __slots__ = (
        "application", "settings", "owner", "parser", "phase", "deadline", "transport",
        "client_addr", "scheme", "receiving", "closed", "expects_continue", "_body_open", "_loop",
        "_request", "_keep_alive", "_runner", "_advancing", "_peer_closed",
        "_reading_paused", "_started", "_body", "_body_unread", "_body_error",
        "_body_waiter", "_closed_waiter", "_head", "_body_allowed", "_chunked",
        "_content_length", "_sent", "_status", "_write_paused", "_drain_waiters",
        "trusted_proxy", "_proxy_header", "_persistent", "_drop_input", "_streaming",
        "_switched_to", "_body_limit_for", "__weakref__",
    )

    def __init__(self, application: Application, settings: ConnectionSettings,
                 owner: ConnectionOwner) -> None:
        self.application = application
        # What the application says a request's body may weigh, if it says
        # (see exchange): a route's own limit.
        self._body_limit_for: Callable[[Request], int | None] | None = getattr(
            application, "body_limit", None)
        self.settings = settings
        self.owner = owner
        self.parser = RequestParser(settings.limits)
        self.phase = IDLE
        self.deadline: float | None = None
        self.transport: asyncio.Transport | None = None
        self.client_addr: tuple[str, int] | None = None
        self.scheme = "http"
        # The channel, as the application sees it (see exchange.Channel).
        self.receiving = False
        # Whether more of the body is still to come from the client (a
        # piece may also wait unread: `receiving` covers both).
        self._body_open = False
        self.closed = False
        self.expects_continue = False
        self._loop = asyncio.get_running_loop()
        self._request: Request | None = None
        self._keep_alive = True
        self._persistent = False
        # Set when an answer goes out before the request was read whole.
        self._drop_input = False
        # While the connection iterates a StreamingResponse: a client gone
        # then cancels it, since the iterator may wait long for its next item.
        self._streaming = False
        self._switched_to: asyncio.Protocol | None = None  # after a 101
        self._runner = EagerRunner(self._loop)
        self._advancing = False
        self._peer_closed = False
        self._reading_paused = False
        self._started = 0.0
        # The request body: pieces not yet read, and what stops them.
        self._body: list[bytes] = []
        self._body_unread = 0
        self._body_error: Exception | None = None
        self._body_waiter: asyncio.Future[None] | None = None
        self._closed_waiter: asyncio.Future[None] | None = None
        # The response being written.
        self._head = b""              # encoded, waiting to go out with the body
        self._body_allowed = False
        self._chunked = False
        self._content_length: int | None = None
        self._sent = 0
        self._status = 0
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        # Whether the peer is a proxy trusted to say who the client is
        # (and which host and scheme it used).
        self.trusted_proxy = False
        self._proxy_header: bytearray | None = None  # until PROXY header read

    @property
    def root_path(self) -> str:
        return self.settings.root_path

    # -- asyncio callbacks ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Without it a head and body written separately wait ~40 ms for
            # the client's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.client_addr = tuple(peer[:2]) if isinstance(peer, tuple) else None  # type: ignore[assignment]
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
        settings = self.settings
        trusted = settings.forwarded_allow_ips
        if trusted is not None and self.client_addr is not None:
            self.trusted_proxy = self.client_addr[0] in trusted
        if settings.proxy_protocol and self.trusted_proxy:
            self._proxy_header = bytearray()
        # Whether requests may keep the connection open: not with a
        # keep-alive timeout of 0, nor once the server drains (going_away).
        self._persistent = settings.keep_alive > 0 and not self.owner.draining
        self.owner.connection_made(self)
        # The first request's head must arrive within the read timeout.
        self.deadline = monotonic() + settings.read_timeout

    def data_received(self, data: bytes) -> None:
        if self._proxy_header is not None:
            data = self._read_proxy_header(data)
            if not data:
                return
        parser = self.parser
        parser.buffer += data  # parser.feed(data), without the call
        phase = self.phase
        if phase is IDLE or phase is HEAD or self._body_open:
            self._advance()
        elif len(parser.buffer) > _MAX_PIPELINE_BUFFER:
            self._pause_reading()

    def _read_proxy_header(self, data: bytes) -> bytes:
        """Take the PROXY protocol header off the front of the connection;
        what follows it is HTTP."""
        header = self._proxy_header
        header += data  # type: ignore[operator]
        try:
            parsed = parse_proxy_header(header)  # type: ignore[arg-type]
        except ProtocolError as exc:
            self._proxy_header = None
            self._reject(exc)
            return b""
        if parsed is None:
            return b""
        consumed, client = parsed
        if client is not None:
            self.client_addr = client
        self._proxy_header = None
        return bytes(header[consumed:])  # type: ignore[index]

    def eof_received(self) -> bool | None:
        # A client that half-closes still gets the response it is waiting
        # for; but a body cannot arrive any more, and a stream has no
        # natural end, so there EOF means gone.
        self._peer_closed = True
        waiter = self._closed_waiter
        if waiter is not None and not waiter.done():  # see wait_closed
            waiter.set_result(None)
        if self._body_open:
            self._fail_body(ClientDisconnected("the client closed before its body ended"))
        if self.phase is not APP:
            self._close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._streaming:
            self._runner.cancel()  # the stream's iterator is closed (aclose)
        else:
            self._runner.close()  # a handler in progress may finish
        self.phase = CLOSED
        self._set_closed()
        self.owner.connection_closed(self)
        gone = ClientDisconnected("client went away")
        if self._body_open:
            self._fail_body(gone)
        self._wake_writers(gone)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writers(None)

    # -- reading requests -----------------------------------------------------

    def _advance(self) -> None:
        """Parse what is buffered: start requests and feed their bodies.

        A request goes to the application once its body is complete or,
        failing that, once the bytes received so far are taken; the rest of
        its body then reaches the application through `receive()`. A head
        without a body is the whole request (the parser sends no
        END_OF_MESSAGE then), dispatched at once, and so is one whose body
        came with it (`whole_body`), both right here. Responses written
        synchronously come back here through `_finish_response`; the flag
        keeps that from recursing, so a long pipeline is a loop, not a deep
        stack. This is the per-request path: starting a request is written
        out here rather than called.
        """
        if self._advancing:
            return
        self._advancing = True
        parser = self.parser
        try:
            while True:
                try:
                    event = parser.next_event()
                except ProtocolError as exc:
                    self._protocol_error(exc)
                    return
                if event.__class__ is tuple:  # a head: start the request
                    (method, target, version, headers, content_length, keep_alive,
                     expect_continue) = event  # type: ignore[misc]
                    self._keep_alive = keep_alive and self._persistent
                    if "?" in target:
                        path, _, query = target.partition("?")
                    else:  # no query: no partition to make
                        path, query = target, ""
                    if self.trusted_proxy and (
                            "forwarded" in headers or "x-forwarded-for" in headers
                            or "x-forwarded-proto" in headers):
                        client_addr, scheme = self._forwarded_client(headers)
                    else:
                        client_addr, scheme = self.client_addr, self.scheme
                    request = self._request = _received_request(
                        method, path, query, headers, client_addr,
                        self.application, version, scheme, self)
                    if "%" in path:
                        request.path = unquote(path)
                        request.path_as_sent = path  # ASGI and WSGI need it
                    settings = self.settings
                    if settings.access_log is not None:
                        self._started = monotonic()
                    if content_length != 0:
                        if self._body_limit_for is not None:
                            limit = self._body_limit_for(request)
                            if limit is not None:
                                parser.body_limit = limit
                        body = None if expect_continue else parser.whole_body()
                        if body is None:
                            self.phase = BODY
                            self.receiving = self._body_open = True  # until END_OF_MESSAGE
                            self.expects_continue = expect_continue
                            continue
                        request.body = body  # it came with the head: one step
                    # Dispatched as by _dispatch().
                    self.phase = APP
                    self.deadline = None
                    probes = settings.probe_paths
                    if probes is not None and request.path in probes:
                        self._send_whole(self.owner.probe_response(request.path), request)
                    else:
                        self._runner.run(self._serve(request))
                elif event is None:
                    phase = self.phase
                    if phase is BODY:
                        # The application reads the rest, and these first.
                        self._body_unread = sum(map(len, self._body))
                        self._dispatch()
                    elif phase is IDLE and parser.in_message:
                        # The whole head gets one deadline, however it trickles in.
                        self.phase = HEAD
                        self.deadline = monotonic() + self.settings.read_timeout
                    return
                elif event is END_OF_MESSAGE:
                    self._body_open = False
                    if self.phase is BODY:
                        self.receiving = False
                        if self._body:
                            self._request.body = b"".join(self._body)  # type: ignore[union-attr]
                            self._body = []
                        self._dispatch()
                    else:
                        self.receiving = bool(self._body)  # pieces left to read
                        self._wake_body_reader()
                else:
                    self._body.append(event)  # type: ignore[arg-type]
                    if self.phase is not BODY:
                        self._body_unread += len(event)  # type: ignore[arg-type]
                        self._wake_body_reader()
                        if self._body_unread > _MAX_UNREAD_BODY:
                            self._pause_reading()
                            return
                phase = self.phase
                if phase is IDLE:
                    if not parser.buffer:  # answered at once, nothing pipelined
                        return
                elif phase is not BODY and not self._body_open:
                    return
        finally:
            self._advancing = False

    def _forwarded_client(self, headers: dict[str, str]) -> tuple[tuple[str, int] | None, str]:
        """The client address and scheme a trusted proxy gave, else the
        connection's own."""
        client, proto = forwarded_client(headers, self.settings.forwarded_allow_ips)  # type: ignore[arg-type]
        return client or self.client_addr, proto or self.scheme

    def _dispatch(self) -> None:
        """Hand the request to the application (or answer a probe); a
        request whose body came with its head is dispatched the same way,
        written out, in `_advance`."""
        request = self._request
        self.phase = APP
        self.deadline = None
        probes = self.settings.probe_paths
        if probes is not None and request.path in probes:  # type: ignore[union-attr]
            self._send_whole(self.owner.probe_response(request.path), request)  # type: ignore[union-attr, arg-type]
            return
        self._runner.run(self._serve(request))  # type: ignore[arg-type]

    async def _serve(self, request: Request) -> None:
        try:
            response = await self.application.handle(request)
            if response is None:
                self._check_responded(request)
            elif not response.streamed:
                self._send_whole(response, request)
            else:
                await self._send_described(response, request)
        except (asyncio.CancelledError, ConnectionError):
            self._close()
        except Exception:
            log.exception("Error while sending the response to %s %s",
                          request.method, request.path)
            self.abort()

    # -- the request body, as the application reads it ------------------------

    async def receive(self) -> bytes:
        """The next piece of the request body; b"" once it has all arrived."""
        while True:
            body = self._body
            if body:
                piece = body.pop(0)
                self._body_unread -= len(piece)
                if self._body_open:
                    if self._reading_paused and self._body_unread <= _MAX_UNREAD_BODY:
                        self._resume_reading()
                        self._advance()
                elif not body and self._body_error is None:
                    self.receiving = False  # that was the last piece
                return piece
            if self._body_error is not None:
                raise self._body_error
            if not self._body_open:
                self.receiving = False
                return b""
            if self.expects_continue:
                self.expects_continue = False
                if not self._status:  # no final response begun yet
                    self.transport.write(_CONTINUE)  # type: ignore[union-attr]
            waiter = self._body_waiter = self._loop.create_future()
            self.deadline = monotonic() + self.settings.read_timeout
            try:
                await waiter
            finally:
                self._body_waiter = None
                self.deadline = None

    def _wake_body_reader(self) -> None:
        waiter = self._body_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail_body(self, error: Exception) -> None:
        """The body will not arrive: `receive()` raises `error` once the
        pieces already received are read."""
        self._body_open = False
        self._keep_alive = False
        # The client may still be sending: linger after the answer, so that
        # it reads the answer rather than a reset.
        self._drop_input = True
        if self._body_error is None:
            self._body_error = error
        self._wake_body_reader()

    def server_address(self) -> tuple[str, int] | str | None:
        """The local address the client connected to: (host, port), or
        the path of a unix socket."""
        sockname = self.transport.get_extra_info("sockname")  # type: ignore[union-attr]
        if isinstance(sockname, tuple):
            return sockname[0], sockname[1]
        return sockname or None

    async def wait_closed(self) -> None:
        """Until the client is gone, or has ended its side: a client
        waiting on a long poll is as good as gone once it can send nothing
        more (one that half-closed still gets the response sent to it)."""
        if self.closed or self._peer_closed:
            return
        if self._closed_waiter is None:
            self._closed_waiter = self._loop.create_future()
        await asyncio.shield(self._closed_waiter)

    def _set_closed(self) -> None:
        self.closed = True
        waiter = self._closed_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- writing responses ----------------------------------------------------

    def _encode_head(self, response: Response, request: Request, framing: bytes) -> bytes | None:
        """The response head; None if the application's header fields were
        refused, in which case a 500 went out instead and the connection
        closes."""
        try:
            prefix = response.head_prefix()
        except ValueError as exc:
            self._refuse_head(request, exc)
            return None
        return prefix + self.owner.date_line + framing + self._connection_field(request)

    def _connection_field(self, request: Request) -> bytes:
        """The `Connection` field that ends a head, with the empty line."""
        if self._body_open:
            # A body the application did not read cannot be skipped safely
            # in every case (no 100 Continue went out): close after this.
            self._keep_alive = False
            self._drop_input = True
        if not self._keep_alive:
            return b"connection: close\r\n\r\n"
        if request.http_version == "1.0":
            return b"connection: keep-alive\r\n\r\n"
        return b"\r\n"

    def _refuse_head(self, request: Request, exc: ValueError) -> None:
        """The application's header fields could split the response: a 500
        goes out instead, and the connection closes."""
        log.error("Refused the response to %s %s: %s", request.method, request.path, exc)
        self._keep_alive = False
        self._send_whole(Response("Internal Server Error", 500), request)

    def _send_whole(self, response: Response, request: Request) -> None:
        """Write a response whose body is in memory, then go on.

        Most responses take this path, so it builds the head itself, in
        one formatting, rather than through `_encode_head`, and takes the
        cached head of a response with no header fields but its content
        type as `head_prefix` would."""
        if self.phase is CLOSED:
            return
        status = response.status_code
        prefix = (_PREFIXES.get(response._content_type)
                  if status == 200 and response._headers is None else None)
        if prefix is None:
            try:
                prefix = response.head_prefix()
            except ValueError as exc:
                self._refuse_head(request, exc)
                return
        if self._body_open:  # as in _connection_field
            self._keep_alive = False
            self._drop_input = True
        if not self._keep_alive:
            connection = b"connection: close\r\n\r\n"
        elif request.http_version == "1.0":
            connection = b"connection: keep-alive\r\n\r\n"
        else:
            connection = b"\r\n"
        owner = self.owner
        if status != 200 and (status in _NO_BODY or status < 200):
            size = 0
            self.transport.write(prefix + owner.date_line + connection)  # type: ignore[union-attr]
        elif request.method == "HEAD":
            self.transport.write(b"%b%bcontent-length: %d\r\n%b" % (  # type: ignore[union-attr]
                prefix, owner.date_line, len(response.body), connection))
            size = 0
        else:
            body = response.body
            size = len(body)
            length = _LENGTH_LINES.get(size)
            if length is None:
                length = b"content-length: %d\r\n" % size
                if len(_LENGTH_LINES) < 1024:
                    _LENGTH_LINES[size] = length
            self.transport.write(_join((  # type: ignore[union-attr]
                prefix, owner.date_line, length, connection, body)))
        if self.settings.access_log is not None:
            self._log_access(request, status, size)
        self._finish_response()

    async def _send_described(self, response: Response, request: Request) -> None:
        """Write a response whose body is a stream, a file or another protocol."""
        if isinstance(response, StreamingResponse):
            try:
                if self.start_response(response):
                    self._streaming = True
                    async for chunk in response.chunks():
                        await self.send_body(chunk)
            finally:
                self._streaming = False
                await response.close()
            self.end_response()
        elif isinstance(response, FileResponse):
            await self._send_file_response(response, request)
        elif isinstance(response, SwitchProtocol):
            self._switch_protocol(response, request)
        else:
            raise TypeError(f"cannot send a {type(response).__name__}")

    async def _send_file_response(self, response: FileResponse, request: Request) -> None:
        try:
            region = response.open_region(request)
        except HTTPException as exc:  # the file went away since the handler ran
            self._send_whole(Response(exc.message, exc.status_code, exc.headers), request)
            return
        if region is None:
            self._send_whole(Response(b"", response.status_code, response.headers), request)
            return
        file, offset, length = region
        with file:
            # Still APP: a client that half-closed after its request
            # gets the whole file, unlike a stream, which has no end to wait for.
            if self.start_response(response, length):
                await self.send_file(file, offset, length)
            self.end_response()

    def start_response(self, response: Response, content_length: int | None = None) -> bool:
        """Begin a response sent as events; False if no body may follow
        (HEAD, 1xx, 204, 304, or header fields that were refused).

        With a length, the head waits to go out with the first piece of the
        body; without one it goes out at once (a stream may wait long for
        its first piece), and the body is chunked, or ends with the
        connection for HTTP/1.0.
        """
        request = self._request
        status = response.status_code
        self._body_allowed = not (request.method == "HEAD" or status in _NO_BODY  # type: ignore[union-attr]
                                  or status < 200)
        self._chunked = False
        if status in _NO_BODY or status < 200:
            framing = b""
        elif content_length is not None:
            framing = b"content-length: %d\r\n" % content_length
        elif not self._body_allowed:
            framing = b""
        elif request.http_version == "1.1":  # type: ignore[union-attr]
            framing = b"transfer-encoding: chunked\r\n"
            self._chunked = True
        else:
            # HTTP/1.0 has no chunked coding: the body ends when we close.
            self._keep_alive = False
            framing = b""
        head = self._encode_head(response, request, framing)  # type: ignore[arg-type]
        if head is None:
            self._body_allowed = False
            return False
        self._status = status
        self._sent = 0
        self._content_length = content_length if self._body_allowed else None
        if content_length is None and self._body_allowed:
            self.phase = STREAM
            self.transport.write(head)  # type: ignore[union-attr]
        else:
            self._head = head
        return self._body_allowed

    async def send_body(self, data: bytes | str) -> None:
        """Send a piece of the body; waits while the client is slow."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not data or not self._body_allowed:
            return  # an empty chunk would end the body
        if self.phase is CLOSED:
            raise ClientDisconnected("client went away")
        self._count_sent(len(data))
        head, self._head = self._head, b""
        if self._chunked:
            self.transport.write(b"%x\r\n%b\r\n" % (len(data), data))  # type: ignore[union-attr]
        else:
            self.transport.write(head + data if head else data)  # type: ignore[union-attr]
        if self._write_paused:
            await self._drain()

    async def send_file(self, file: BinaryIO, offset: int, length: int) -> None:
        """Send `length` bytes of `file` from `offset` as a piece of the body."""
        if length <= 0 or not self._body_allowed:
            return
        if self.phase is CLOSED:
            raise ClientDisconnected("client went away")
        self._count_sent(length)
        transport = self.transport
        head, self._head = self._head, b""
        if self._chunked:
            head += b"%x\r\n" % length
        if length <= _SMALL_FILE:
            transport.write(head + os.pread(file.fileno(), length, offset))  # type: ignore[union-attr]
        else:
            if head:
                transport.write(head)  # type: ignore[union-attr]
            try:
                await self._loop.sendfile(transport, file, offset, length)  # type: ignore[arg-type]
            except NotImplementedError:  # uvloop has no sendfile
                await self._write_file(file, offset, length)
        if self._chunked:
            transport.write(b"\r\n")  # type: ignore[union-attr]
        if self._write_paused:
            await self._drain()

    async def _write_file(self, file: BinaryIO, offset: int, length: int) -> None:
        """sendfile's stand-in: the file in pieces, each waiting for the
        client to keep up."""
        end = offset + length
        while offset < end:
            piece = os.pread(file.fileno(), min(_SMALL_FILE, end - offset), offset)
            if not piece:
                raise RuntimeError(f"{getattr(file, 'name', 'file')} ended early")
            self.transport.write(piece)  # type: ignore[union-attr]
            offset += len(piece)
            if self._write_paused:
                await self._drain()

    def _count_sent(self, size: int) -> None:
        self._sent += size
        if self._content_length is not None and self._sent > self._content_length:
            raise RuntimeError(f"response body longer than its Content-Length "
                               f"({self._content_length})")

    def end_response(self) -> None:
        """End the response begun with `start_response`, then go on."""
        phase = self.phase
        if phase is not APP and phase is not STREAM:
            return  # closed, or the head was refused and a 500 went out
        request = self._request
        if self._head:
            self.transport.write(self._head)  # type: ignore[union-attr]
            self._head = b""
        if self._chunked:
            self.transport.write(b"0\r\n\r\n")  # type: ignore[union-attr]
        elif self._content_length is not None and self._sent < self._content_length:
            log.error("Response to %s %s ended after %d of its %d bytes; closing",
                      request.method, request.path, self._sent, self._content_length)  # type: ignore[union-attr]
            self.abort()
            return
        if self.settings.access_log is not None:
            self._log_access(request, self._status, self._sent)  # type: ignore[arg-type]
        self._status = 0
        self._finish_response()

    def _check_responded(self, request: Request) -> None:
        """After an application that sends events returned: it must have
        ended what it started, or started nothing (a 500 then)."""
        if self._request is not request or self.phase is CLOSED:
            return  # answered, or gone
        if self._head or self.phase is STREAM or self._status:
            self.end_response()
        else:
            log.error("The application returned no response to %s %s",
                      request.method, request.path)
            self._keep_alive = False
            self._send_whole(Response("Internal Server Error", 500), request)

    def _switch_protocol(self, response: SwitchProtocol, request: Request) -> None:
        """Write the 101 and hand the transport, and the connection's
        settings, to the new protocol."""
        if self.phase is CLOSED:
            return  # the client left while the application decided
        if self.receiving:
            raise RuntimeError("cannot switch protocols before the request body ended")
        try:
            prefix = response.head_prefix()
        except ValueError as exc:
            self._refuse_head(request, exc)
            return
        transport = self.transport
        transport.write(prefix + self.owner.date_line + b"connection: upgrade\r\n\r\n")  # type: ignore[union-attr]
        if self.settings.access_log is not None:
            self._log_access(request, 101, 0)
        protocol = self._switched_to = response.protocol_factory(self.settings)
        already_received = bytes(self.parser.buffer)
        self.parser = _DISCARD  # type: ignore[assignment]
        self.phase = SWITCHED
        self.deadline = None
        self._request = None
        self._runner.close()
        owner = self.owner
        owner.requests_served += 1
        if owner.requests_served == owner.max_requests:
            owner.on_max_requests()  # type: ignore[misc]
        # This connection stays what the server drains and counts; the
        # bytes go straight to the new protocol.
        transport.set_protocol(_Relay(self, protocol))  # type: ignore[union-attr]
        protocol.connection_made(transport)  # type: ignore[arg-type]
        if already_received:
            protocol.data_received(already_received)  # type: ignore[attr-defined]
        if self._peer_closed and not protocol.eof_received():  # type: ignore[attr-defined]
            transport.close()  # type: ignore[union-attr]
        elif self.owner.draining:
            self.going_away()  # switched after the drain began: tell it now

    def _log_access(self, request: Request, status: int, size: int) -> None:
        try:
            self.settings.access_log(request, status, size, monotonic() - self._started)  # type: ignore[misc]
        except Exception:
            log.exception("Error in the access log")

    async def _drain(self) -> None:
        waiter = self._loop.create_future()
        self._drain_waiters.append(waiter)
        await waiter

    def _wake_writers(self, exc: Exception | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)

    def _finish_response(self) -> None:
        """The response went out: count it, then close, or wait for the
        next request."""
        if self.receiving:  # pieces the application left unread
            self._body = []
            self._body_unread = 0
            self.receiving = False
        self._request = None
        owner = self.owner
        served = owner.requests_served = owner.requests_served + 1
        if served == owner.max_requests:
            owner.on_max_requests()  # type: ignore[misc]
        parser = self.parser
        if not self._keep_alive or self.phase is CLOSED or (
                self._peer_closed and not parser.buffer):
            self._close()
            return
        self.phase = IDLE
        parser.start_next_message()
        if self._reading_paused:
            self._resume_reading()
        self.deadline = monotonic() + self.settings.keep_alive
        if parser.buffer:
            self._advance()

    def _pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]

    def _resume_reading(self) -> None:
        self._reading_paused = False
        self.transport.resume_reading()  # type: ignore[union-attr]

    # -- errors, timeouts, closing ----------------------------------------------

    def _protocol_error(self, exc: ProtocolError) -> None:
        """The parser refused the bytes: the connection answers, unless the
        application already has the request, which then learns it from
        `receive()` and answers itself."""
        if self.phase is APP or self.phase is STREAM:
            peer = self.client_addr[0] if self.client_addr else "?"
            log.info("%d %s from %s", exc.status, exc.reason, peer)
            self._fail_body(BodyError(exc.status, exc.reason))
        else:
            self._reject(exc)

    def _reject(self, exc: ProtocolError) -> None:
        """Answer a request the parser refused, then close."""
        peer = self.client_addr[0] if self.client_addr else "?"
        log.info("%d %s from %s", exc.status, exc.reason, peer)
        if self.phase is CLOSED:
            return
        self._keep_alive = False
        self._drop_input = True
        self.receiving = self._body_open = False
        if self._request is None:  # refused before its head was whole: timed from now
            self._started = monotonic()
        body = f"{exc.reason}\n".encode()
        response = Response(body, exc.status, content_type=TEXT)
        # Answered as to a GET, whatever was asked: the error page must carry
        # its body, and the request may not even have a method yet.
        self.phase = APP
        self._send_whole(response, Request("GET", "", "", {}))

    def on_deadline(self) -> None:
        """The server's timer found this connection past its deadline."""
        self.deadline = None
        if self.phase is HEAD:
            self.parser = RequestParser(self.settings.limits)  # never parse on
            self._reject(RequestTimeout("request not received in time"))
        elif self._body_waiter is not None:
            # The application waits for a body that does not come.
            self._fail_body(BodyError(408, "request body not received in time"))
        else:
            self._close()

    def going_away(self) -> None:
        """The server drains: answer what is in flight with `Connection:
        close`, and take no further request. A protocol switched to is told
        if it listens (`going_away()`: a WebSocket sends its close)."""
        self._persistent = False
        if self.phase is SWITCHED:
            going_away = getattr(self._switched_to, "going_away", None)
            if going_away is not None:
                going_away()
        elif self.phase is not IDLE:
            self._keep_alive = False

    def close_if_idle(self) -> bool:
        """Used by a draining server: drop a connection between requests."""
        if (self.phase is IDLE and not self.parser.in_message) or self.phase is LINGER:
            self._close()
            return True
        return False

    def _close(self) -> None:
        phase = self.phase
        if self._streaming:
            self._runner.cancel()
        if phase is CLOSED:
            return
        self._set_closed()
        if (self._drop_input and phase is not LINGER and not self._peer_closed
                and self.transport.can_write_eof()):  # type: ignore[union-attr]
            # The client may still be sending what will never be read.
            # Closing now would reset the connection, and a reset can make
            # the client lose the answer it has not read yet: end our side,
            # and drop what arrives until the client ends its side too.
            self.phase = LINGER
            self.parser = _DISCARD  # type: ignore[assignment]
            self.receiving = self._body_open = False  # what still arrives is dropped
            self.deadline = monotonic() + _LINGER_SECONDS
            if self._reading_paused:
                self._resume_reading()
            self.transport.write_eof()  # type: ignore[union-attr]
            return
        self.phase = CLOSED
        self.deadline = None
        self.transport.close()  # type: ignore[union-attr]

    def abort(self) -> None:
        """Drop the connection without flushing (a broken response, or the
        end of a drain)."""
        self._runner.cancel()
        if self.phase is not CLOSED:
            self.phase = CLOSED
            self.deadline = None
            self._set_closed()
            self.transport.abort()  # type: ignore[union-attr]
