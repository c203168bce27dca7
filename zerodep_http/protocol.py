"""One connection's lifecycle: an asyncio Protocol around the parser.

The protocol feeds received bytes to the sans-I/O parser, builds a
`Request` from its events, runs the application and writes the response.
Requests on one connection are answered strictly in order: while one is in
the application, further pipelined bytes wait in the parser's buffer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from time import monotonic
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import unquote

from .eager import EagerRunner
from .parser import (
    END_OF_MESSAGE,
    ProtocolError,
    RequestHead,
    RequestParser,
    RequestTimeout,
)
from .proxy import forwarded_client, parse_proxy_header
from .requests import Request
from .responses import TEXT, Response

if TYPE_CHECKING:
    from .files import FileResponse
    from .server import Server

log = logging.getLogger("zerodep_http.error")

# Statuses whose responses never carry a body (RFC 9110 6.4.1).
_NO_BODY = frozenset({204, 304})
# Files up to this size go out in the same write as the head.
_SMALL_FILE = 64 * 1024
# Pipelined bytes buffered while a request is in the application before
# the connection stops reading from the socket.
_MAX_PIPELINE_BUFFER = 256 * 1024


class Phase:
    """Where a connection is in its request cycle.

    Plain class constants rather than an Enum: an Enum member lookup costs
    ten times as much, and the per-request path makes a dozen of them.
    """

    IDLE = "idle"           # between requests, nothing received yet
    HEAD = "head"           # part of a request head received
    BODY = "body"           # head done, reading the body
    APP = "app"             # the application has the request
    STREAM = "stream"       # a streamed response is being written
    CLOSED = "closed"


class HTTPProtocol(asyncio.Protocol):
    """Serves HTTP/1.1 on one transport for a `Server`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.app = server.app
        self.parser = RequestParser(server.limits)
        self.phase = Phase.IDLE
        self.deadline: float | None = None
        self.transport: asyncio.Transport | None = None
        self.client_addr: tuple[str, int] | None = None
        self.scheme = "http"
        self._loop = asyncio.get_running_loop()
        self._request: Request | None = None
        self._body: list[bytes] = []
        self._keep_alive = True
        self._runner = EagerRunner(self._loop)
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._reading_paused = False
        self._chunked = False
        self._stream_status = 0
        self._stream_sent = 0
        self._peer_closed = False
        self._advancing = False
        self._started = 0.0
        # Whether the peer is a proxy trusted to say who the client is.
        self._trusted_proxy = False
        self._proxy_header: bytearray | None = None  # until PROXY header read

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
        trusted = self.server.forwarded_allow_ips
        if trusted is not None and self.client_addr is not None:
            self._trusted_proxy = self.client_addr[0] in trusted
        if self.server.proxy_protocol and self._trusted_proxy:
            self._proxy_header = bytearray()
        self.server.connections.add(self)
        # The first request's head must arrive within the read timeout.
        self.deadline = monotonic() + self.server.read_timeout

    def data_received(self, data: bytes) -> None:
        if self._proxy_header is not None:
            data = self._read_proxy_header(data)
            if not data:
                return
        self.parser.feed(data)
        phase = self.phase
        if phase is Phase.IDLE or phase is Phase.HEAD or phase is Phase.BODY:
            self._advance()
        elif len(self.parser.buffer) > _MAX_PIPELINE_BUFFER and not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]

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
        # for; but a stream has no natural end, so there EOF means gone.
        self._peer_closed = True
        if self.phase is not Phase.APP:
            self._close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.phase is Phase.STREAM:
            self._runner.cancel()  # closes the generator (aclose)
        else:
            self._runner.close()  # a handler in progress may finish
        self.phase = Phase.CLOSED
        self.server.connection_closed(self)
        self._wake_writers(ConnectionResetError("client went away"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writers(None)

    # -- reading requests -----------------------------------------------------

    def _advance(self) -> None:
        """Parse what is buffered and hand complete requests to the app.

        Responses written synchronously come back here through
        `_finish_response`; the flag keeps that from recursing, so a long
        pipeline is a loop, not a deep stack.
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
                    self._reject(exc)
                    return
                if event is None:
                    self._set_read_deadline()
                    return
                if event.__class__ is RequestHead:
                    self._start_request(event)  # type: ignore[arg-type]
                elif event is END_OF_MESSAGE:
                    self._dispatch()
                else:
                    self._body.append(event)  # type: ignore[arg-type]
                    self.deadline = None  # refreshed once the buffer runs dry
                phase = self.phase
                if phase is Phase.IDLE:
                    if not parser.buffer:  # answered at once, nothing pipelined
                        return
                elif phase is not Phase.BODY:
                    return
        finally:
            self._advancing = False

    def _set_read_deadline(self) -> None:
        phase = self.phase
        if phase is Phase.BODY:
            self.deadline = monotonic() + self.server.read_timeout
        elif self.parser.in_message:
            if phase is Phase.IDLE:
                # The whole head gets one deadline, however it trickles in.
                self.phase = Phase.HEAD
                self.deadline = monotonic() + self.server.read_timeout

    def _start_request(self, head: RequestHead) -> None:
        self._body = []
        # A keep-alive timeout of 0 turns persistent connections off.
        self._keep_alive = head.keep_alive and self.server.keep_alive > 0
        target = head.target
        path, _, query = target.partition("?")
        if "%" in path:
            path = unquote(path)
        headers = head.headers
        client_addr, scheme = self.client_addr, self.scheme
        if self._trusted_proxy and (
                "forwarded" in headers or "x-forwarded-for" in headers
                or "x-forwarded-proto" in headers):
            client, proto = forwarded_client(headers, self.server.forwarded_allow_ips)  # type: ignore[arg-type]
            client_addr = client or client_addr
            scheme = proto or scheme
        self._request = request = Request(
            head.method, path, query, headers, b"", client_addr,
            self.app, head.http_version, scheme)
        self.phase = Phase.BODY
        if self.server.access_log is not None:
            self._started = monotonic()
        if head.expect_continue:
            if head.content_length != 0 and self.app.wants_body(request):
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[union-attr]
            else:
                # Answer without the body; the client may send it anyway,
                # so this connection cannot carry another request.
                self._keep_alive = False
                self._dispatch()

    def _dispatch(self) -> None:
        request = self._request
        if self._body:
            request.body = b"".join(self._body)  # type: ignore[union-attr]
            self._body = []
        self.phase = Phase.APP
        self.deadline = None
        probes = self.server.probe_paths
        if probes is not None and request.path in probes:  # type: ignore[union-attr]
            self.send_response(self.server.probe_response(request.path), request)  # type: ignore[union-attr, arg-type]
            return
        self._runner.run(self._run_app(request))  # type: ignore[arg-type]

    async def _run_app(self, request: Request) -> None:
        try:
            response = await self.app.handle(request)
            if response.streamed:
                await response.send(self, request)  # type: ignore[attr-defined]
            else:
                self.send_response(response, request)
        except (asyncio.CancelledError, ConnectionError):
            self._close()
        except Exception:
            log.exception("Error while sending the response to %s %s",
                          request.method, request.path)
            self.abort()

    # -- writing responses ----------------------------------------------------

    def _encode_head(self, response: Response, request: Request, framing: bytes) -> bytes | None:
        """The response head; None if the application's header fields were
        refused, in which case a 500 went out instead and the connection
        closes."""
        try:
            prefix = response.head_prefix()
        except ValueError as exc:
            log.error("Refused the response to %s %s: %s", request.method, request.path, exc)
            self._keep_alive = False
            self.send_response(Response("Internal Server Error", 500), request)
            return None
        if self.server.draining:
            self._keep_alive = False
        if not self._keep_alive:
            connection = b"connection: close\r\n\r\n"
        elif request.http_version == "1.0":
            connection = b"connection: keep-alive\r\n\r\n"
        else:
            connection = b"\r\n"
        return prefix + self.server.date_line + framing + connection

    def send_response(self, response: Response, request: Request) -> None:
        """Write a response whose body is in memory, then go on."""
        if self.phase is Phase.CLOSED:
            return
        status = response.status_code
        body = response.body
        if status in _NO_BODY or status < 200:
            framing, body = b"", b""
        else:
            framing = b"content-length: %d\r\n" % len(body)
            if request.method == "HEAD":
                body = b""
        head = self._encode_head(response, request, framing)
        if head is None:
            return
        self.transport.write(head + body if body else head)  # type: ignore[union-attr]
        if self.server.access_log is not None:
            self._log_access(request, status, len(body))
        self._finish_response()

    def _log_access(self, request: Request, status: int, size: int) -> None:
        try:
            self.server.access_log(request, status, size, monotonic() - self._started)  # type: ignore[misc]
        except Exception:
            log.exception("Error in the access log")

    def start_stream(self, response: Response, request: Request) -> bool:
        """Send the head of a streamed response; False if no body may follow."""
        status = response.status_code
        no_body = request.method == "HEAD" or status in _NO_BODY or status < 200
        if no_body:
            framing = b""
        elif request.http_version == "1.1":
            framing = b"transfer-encoding: chunked\r\n"
        else:
            # HTTP/1.0 has no chunked coding: the body ends when we close.
            self._keep_alive = False
            framing = b""
        head = self._encode_head(response, request, framing)
        if head is None:
            return False
        self._chunked = bool(framing)
        self._stream_status = status
        self._stream_sent = 0
        self.phase = Phase.STREAM
        self.transport.write(head)  # type: ignore[union-attr]
        return not no_body

    async def write_chunk(self, chunk: str | bytes) -> None:
        if isinstance(chunk, str):
            chunk = chunk.encode("utf-8")
        if not chunk:
            return  # an empty chunk would end the body
        if self.phase is Phase.CLOSED:
            raise ConnectionResetError("client went away")
        if self._chunked:
            self.transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))  # type: ignore[union-attr]
        else:
            self.transport.write(chunk)  # type: ignore[union-attr]
        self._stream_sent += len(chunk)
        if self._write_paused:
            await self._drain()

    def end_stream(self, request: Request) -> None:
        if self.phase is not Phase.STREAM:
            return  # closed, or the head was refused
        if self._chunked:
            self.transport.write(b"0\r\n\r\n")  # type: ignore[union-attr]
        if self.server.access_log is not None:
            self._log_access(request, self._stream_status, self._stream_sent)
        self._finish_response()

    async def send_file(self, response: FileResponse, request: Request,
                        file: BinaryIO, offset: int, length: int) -> None:
        head = self._encode_head(response, request, b"content-length: %d\r\n" % length)
        if head is None:
            return
        transport = self.transport
        if request.method == "HEAD":
            length = 0
            transport.write(head)  # type: ignore[union-attr]
        elif length <= _SMALL_FILE:
            transport.write(head + os.pread(file.fileno(), length, offset))  # type: ignore[union-attr]
        else:
            # Still Phase.APP: a client that half-closed after its request
            # gets the whole file, unlike a stream, which has no end to wait for.
            transport.write(head)  # type: ignore[union-attr]
            await self._loop.sendfile(transport, file, offset, length)  # type: ignore[arg-type]
        if self.server.access_log is not None:
            self._log_access(request, response.status_code, length)
        self._finish_response()

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
        self._request = None
        self.server.requests_served += 1
        if not self._keep_alive or self.phase is Phase.CLOSED or (
                self._peer_closed and not self.parser.buffer):
            self._close()
            return
        self.phase = Phase.IDLE
        self.parser.start_next_message()
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()  # type: ignore[union-attr]
        self.deadline = monotonic() + self.server.keep_alive
        if self.parser.buffer:
            self._advance()

    # -- errors, timeouts, closing ----------------------------------------------

    def _reject(self, exc: ProtocolError) -> None:
        """Answer a request the parser refused, then close."""
        peer = self.client_addr[0] if self.client_addr else "?"
        log.info("%d %s from %s", exc.status, exc.reason, peer)
        if self.phase is Phase.CLOSED:
            return
        self._keep_alive = False
        if self._request is None:  # refused before its head was whole: timed from now
            self._started = monotonic()
        body = f"{exc.reason}\n".encode()
        response = Response(body, exc.status, content_type=TEXT)
        # Answered as to a GET, whatever was asked: the error page must carry
        # its body, and the request may not even have a method yet.
        self.phase = Phase.APP
        self.send_response(response, Request("GET", "", "", {}))

    def on_deadline(self) -> None:
        """The server's timer found this connection past its deadline."""
        self.deadline = None
        if self.phase is Phase.HEAD or self.phase is Phase.BODY:
            self.parser = RequestParser(self.server.limits)  # never parse on
            self._reject(RequestTimeout("request not received in time"))
        else:
            self._close()

    def close_if_idle(self) -> bool:
        """Used by a draining server: drop a connection between requests."""
        if self.phase is Phase.IDLE and not self.parser.in_message:
            self._close()
            return True
        return False

    def _close(self) -> None:
        if self.phase is Phase.STREAM:
            self._runner.cancel()
        if self.phase is not Phase.CLOSED:
            self.phase = Phase.CLOSED
            self.deadline = None
            self.transport.close()  # type: ignore[union-attr]

    def abort(self) -> None:
        """Drop the connection without flushing (a broken response, or the
        end of a drain)."""
        self._runner.cancel()
        if self.phase is not Phase.CLOSED:
            self.phase = Phase.CLOSED
            self.deadline = None
            self.transport.abort()  # type: ignore[union-attr]
