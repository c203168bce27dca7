"""The messages of an ASGI `http` scope (ASGI HTTP spec 2.5): one
request's `receive()` and `send()` on the connection's channel.

`receive()` gives the body the connection already holds, then the rest
as the client sends it (the connection stops reading while the
application does not ask: backpressure), then waits for the client to
leave or the response to end and says `http.disconnect`. `send()` turns
`http.response.start` / `.body` / `.pathsend` into the channel's response
events: with the length the application declared, or the whole body's
when it comes in one message, else chunked (a close-delimited body for
HTTP/1.0). `send()` on a connection the client left raises
`ClientDisconnected`, an `OSError`, as spec 2.4 asks.

Failures: an exception before any byte of the response went out is a 500
(logged once, the traceback never sent); after that the connection is
dropped, so that a cut body is never taken for a whole one. A message out
of order is logged as a protocol error and raised in the application, and
a response left unfinished when it returns is dropped: never a hang.

A WebSocket handshake's denial response (`asgi_websocket`) is sent by the
same cycle.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from .exchange import BodyError, ClientDisconnected
from .hosting import HostedResponse, InvalidResponse, encode_fields
from .requests import Request
from .responses import TEXT, Response

log = logging.getLogger("zerodep_http.error")

_DISCONNECT = {"type": "http.disconnect"}

# Where a request's response is: module constants, compared by identity.
START = "start"        # waiting for http.response.start
HEAD = "head"          # start received, nothing written yet
BODY = "body"          # the head went out; body messages until more_body is False
DONE = "done"          # complete; further body messages are ignored
ANSWERED = "answered"  # the server answered (the body could not be received)


class ASGIProtocolError(RuntimeError):
    """The application sent a message the protocol does not allow there."""


class HTTPCycle:
    """One request's receive() and send()."""

    __slots__ = ("request", "channel", "phase", "response", "content_length",
                 "body_delivered", "body_done", "done_waiter")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.channel = request.channel
        self.phase = START
        self.response: HostedResponse | None = None
        self.content_length: int | None = None
        self.body_delivered = False   # request.body has been given out
        self.body_done = False        # the whole request body has been given out
        self.done_waiter: asyncio.Future[None] | None = None

    # -- receive ---------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if not self.body_done:
            channel = self.channel
            if not self.body_delivered:
                self.body_delivered = True
                body = self.request.body
                if not channel.receiving:
                    self.body_done = True
                    return {"type": "http.request", "body": body, "more_body": False}
                if body:
                    return {"type": "http.request", "body": body, "more_body": True}
            try:
                piece = await channel.receive()
            except ClientDisconnected:
                self.body_done = True
                return _DISCONNECT
            except BodyError as exc:
                self.body_done = True
                await self._answer(exc)
                return _DISCONNECT
            if not piece:
                self.body_done = True
            return {"type": "http.request", "body": piece, "more_body": bool(piece)}
        if self.phase is not DONE and self.phase is not ANSWERED and not self.channel.closed:
            await self._wait_for_end()
        return _DISCONNECT

    async def _wait_for_end(self) -> None:
        """Until the client leaves or the response is complete."""
        if self.done_waiter is None:
            self.done_waiter = asyncio.get_running_loop().create_future()
        closed = asyncio.ensure_future(self.channel.wait_closed())
        try:
            await asyncio.wait((self.done_waiter, closed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()

    async def _answer(self, error: BodyError) -> None:
        """The body cannot arrive (too large, too slow, malformed): the
        client gets that status if no response began, else the connection
        is dropped; the application hears `http.disconnect`."""
        channel = self.channel
        if self.phase is START or self.phase is HEAD:
            self.phase = ANSWERED
            body = f"{error.message}\n".encode()
            if channel.start_response(Response(body, error.status_code, content_type=TEXT),
                                      len(body)):
                await channel.send_body(body)
            channel.end_response()
        elif self.phase is BODY:
            self.phase = ANSWERED
            channel.abort()

    # -- send ------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        phase = self.phase
        if kind == "http.response.body" and (phase is HEAD or phase is BODY):
            await self._send_body(message.get("body", b""), message.get("more_body", False))
        elif phase is START:
            if kind != "http.response.start":
                raise self._protocol_error(f"expected 'http.response.start', got {kind!r}")
            status = message["status"]
            if type(status) is not int or not 200 <= status <= 999:
                raise self._protocol_error(f"invalid status {status!r}")
            try:
                fields, self.content_length = encode_fields(message.get("headers", ()))
            except InvalidResponse as exc:
                raise self._protocol_error(str(exc)) from None
            self.response = HostedResponse(status, fields)
            self.phase = HEAD
        elif kind == "http.response.pathsend" and phase is HEAD:
            await self._send_path(message["path"])
        elif phase is ANSWERED or (phase is DONE and kind == "http.response.body"):
            return  # the exchange is over; the spec has these ignored
        else:
            raise self._protocol_error(f"unexpected {kind!r} after the response "
                                       f"{'ended' if phase is DONE else 'started'}")

    async def _send_body(self, body: bytes, more_body: bool) -> None:
        channel = self.channel
        if self.phase is HEAD:
            if channel.closed:
                raise ClientDisconnected("client went away")
            length = self.content_length
            if length is None and not more_body:
                length = len(body)  # the whole body in one message
            self.phase = BODY
            channel.start_response(self.response, length)  # type: ignore[arg-type]
        if body:
            await channel.send_body(body)
        if not more_body:
            self._end()

    async def _send_path(self, path: str) -> None:
        channel = self.channel
        if channel.closed:
            raise ClientDisconnected("client went away")
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            length = self.content_length if self.content_length is not None else size
            self.phase = BODY
            if channel.start_response(self.response, length):  # type: ignore[arg-type]
                await channel.send_file(file, 0, min(length, size))
        self._end()

    def _end(self) -> None:
        self.phase = DONE
        self.channel.end_response()
        if self.done_waiter is not None and not self.done_waiter.done():
            self.done_waiter.set_result(None)

    def _protocol_error(self, what: str) -> ASGIProtocolError:
        request = self.request
        log.error("ASGI protocol error in the response to %s %s: %s",
                  request.method, request.path, what)
        return ASGIProtocolError(what)

    # -- the application returned --------------------------------------------

    def returned(self) -> Response | None:
        phase = self.phase
        if phase is DONE or phase is ANSWERED:
            return None
        request = self.request
        if phase is BODY:
            log.error("ASGI application returned before its response to %s %s ended; "
                      "dropping the connection", request.method, request.path)
            self.channel.abort()
            return None
        log.error("ASGI application returned without %s a response to %s %s",
                  "starting" if phase is START else "the body of", request.method, request.path)
        return Response("Internal Server Error", 500)

    def failed(self, exc: Exception) -> Response | None:
        phase = self.phase
        request = self.request
        if isinstance(exc, ClientDisconnected) or phase is ANSWERED:
            return None  # our own signal that the client left, come back
        if self.channel.closed:
            # What a framework makes of a client that left (Starlette's
            # ClientDisconnect): nothing to answer, nothing to fix.
            log.info("ASGI application raised %r after the client of %s %s left",
                     exc, request.method, request.path)
            return None
        if not isinstance(exc, ASGIProtocolError):  # that one was logged when raised
            log.error("Exception in ASGI application for %s %s", request.method, request.path,
                      exc_info=exc)
        if phase is START or phase is HEAD:
            return Response("Internal Server Error", 500)
        if phase is BODY:
            self.channel.abort()
        return None
