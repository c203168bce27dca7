"""ASGI `websocket` scopes (ASGI WebSocket spec 2.5, and the
`websocket.http.response` denial-response extension), served by the
native WebSocket engine.

A request that asks for a WebSocket (`Upgrade: websocket`) is checked as
a native WebSocket route checks it (`ws_handshake`: 426 with the version
this server speaks, 400 for any other fault) before the application is
called; whose pages may connect is the application's business, so there
is no Origin check. Then, as for a native handler
(`websocket.WebSocket`, whose handshake, channel and drain this reuses),
the application runs in a task of its own, which `cleanup` waits for
(`ASGIApplication.spawn`), and the connection waits for its answer:

- `receive()` gives `websocket.connect`; once the application accepted,
  each message as `websocket.receive` (`text` or `bytes`); once the
  WebSocket closed, `websocket.disconnect` with the close code and
  reason (1001 on a drain, 1006 when the connection dropped), again on
  every later call. Called before the application answered, it waits for
  that answer or for the client to leave; a WebSocket that never opened
  (refused, denied, or the client gone) is a 1006 disconnect.
- `send()` takes `websocket.accept` (`subprotocol`, `headers`): the 101,
  with permessage-deflate when the client offers it; `websocket.send`
  (`text` or `bytes`), which waits while the client is slow to read
  (backpressure); `websocket.close` (`code`, `reason`), which before
  accepting refuses the handshake with 403; and, instead of accepting,
  `websocket.http.response.start` then `.body` messages: any HTTP
  response, framed and checked as an `http` scope's (`asgi_http`).
  `send()` on a WebSocket that closed raises `ClientDisconnected`, an
  `OSError`, as spec 2.4 asks.

The `--ws-*` settings (message size limit, keep-alive pings) and the
drain's 1001 apply as to any WebSocket: they are the channel's. Failures
are never a hang: a message out of order is logged as a protocol error
and raised in the application. An application that raises or returns
before answering the handshake gets a 500 (logged once, no traceback to
the client); one that raises after accepting closes its WebSocket with
1011 (logged), one that returns with 1000.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from .asgi_http import DONE, ASGIProtocolError, HTTPCycle
from .exceptions import HTTPException
from .exchange import BodyError, ClientDisconnected
from .requests import Request
from .responses import Response
from .websocket import WebSocket
from .ws_errors import CloseCode, WebSocketDisconnect
from .ws_handshake import HandshakeError, parse_upgrade_request

log = logging.getLogger("zerodep_http.error")

#: The denial-response extension: any HTTP response instead of the 101.
EXTENSIONS = {"websocket.http.response": {}}
_CONNECT = {"type": "websocket.connect"}
# What a WebSocket that never opened tells the application.
_NEVER_OPENED = {"type": "websocket.disconnect", "code": int(CloseCode.ABNORMAL_CLOSURE),
                 "reason": ""}

# Where the handshake stands: module constants, compared by identity.
CONNECTING = "connecting"  # not answered yet
DENYING = "denying"        # being answered with an HTTP response (the denial extension)
OPEN = "open"              # accepted: the 101 went out, or is on its way
ANSWERED = "answered"      # answered with an HTTP response: no WebSocket
_BYTES = (bytes, bytearray, memoryview)
_WHERE = {CONNECTING: "before the handshake was answered",
          DENYING: "in the middle of a denial response",
          OPEN: "after the WebSocket was accepted",
          ANSWERED: "after the handshake was answered with an HTTP response"}


class ASGIHost(Protocol):
    """What a WebSocket needs of the adapter serving the application
    (`asgi.ASGIApplication`)."""

    app: Any

    def connection_scope(self, request: Request, kind: str, scheme: str) -> dict[str, Any]: ...
    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]: ...


async def serve_websocket(host: ASGIHost, request: Request) -> Response | None:
    """The answer to a WebSocket handshake for `host`'s application: a
    `SwitchProtocol` once it accepts, else an HTTP response (None when
    the application sent a denial response itself)."""
    try:
        upgrade = parse_upgrade_request(request.method, request.http_version, request.headers)
    except HandshakeError as exc:
        return Response(exc.reason, exc.status, dict(exc.headers))
    channel = request.channel
    if channel.receiving:
        # A body on a handshake (a GET has none as a rule) is read past,
        # as a native route does: the WebSocket's frames come after it.
        try:
            while await channel.receive():
                pass
        except BodyError as exc:
            return Response(exc.message, exc.status_code)
        except ClientDisconnected:
            return None
    scope = host.connection_scope(request, "websocket",
                                  "wss" if request.scheme == "https" else "ws")
    scope["subprotocols"] = list(upgrade.subprotocols)
    scope["extensions"] = EXTENSIONS
    decision = asyncio.get_running_loop().create_future()
    cycle = WebSocketCycle(request, WebSocket(request, upgrade, decision), decision)
    task = cycle.websocket.handler_task = host.spawn(cycle.run(host.app, scope))
    try:
        return await decision
    except HTTPException as exc:  # websocket.close before accepting
        return Response(exc.message, exc.status_code, exc.headers)
    except asyncio.CancelledError:
        task.cancel()  # the connection is gone before any answer
        raise


class WebSocketCycle:
    """One WebSocket's receive() and send(), and the call of the
    application that uses them (`run`)."""

    __slots__ = ("request", "websocket", "decision", "phase", "connected", "told_closed", "denial")

    def __init__(self, request: Request, websocket: WebSocket,
                 decision: asyncio.Future[Response | None]) -> None:
        self.request = request
        self.websocket = websocket
        self.decision = decision     # what the connection answers the handshake with
        self.phase = CONNECTING
        self.connected = False       # websocket.connect was given out
        self.told_closed = False     # the application heard that the WebSocket closed
        self.denial: HTTPCycle | None = None

    # -- receive ---------------------------------------------------------------

    async def receive(self) -> dict[str, Any]:
        if self.phase is not OPEN:
            if not self.connected:
                self.connected = True
                return _CONNECT
            if not self.decision.done():
                await self._until_answered()
            if self.phase is not OPEN:
                self.told_closed = True
                return _NEVER_OPENED
        try:
            data = await self.websocket.receive()
        except WebSocketDisconnect as exc:
            self.told_closed = True
            return {"type": "websocket.disconnect", "code": exc.code, "reason": exc.reason}
        if data.__class__ is str:
            return {"type": "websocket.receive", "text": data}
        return {"type": "websocket.receive", "bytes": data}

    async def _until_answered(self) -> None:
        """Until the application answers the handshake, or the client leaves."""
        gone = asyncio.ensure_future(self.request.channel.wait_closed())
        try:
            await asyncio.wait((self.decision, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()

    # -- send --------------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        phase = self.phase
        if phase is OPEN:
            if kind == "websocket.send":  # the common case, in this one frame
                text, data = message.get("text"), message.get("bytes")
                if text is not None and data is None and isinstance(text, str):
                    payload: str | bytes = text
                elif data is not None and text is None and isinstance(data, _BYTES):
                    payload = data
                else:
                    raise self._protocol_error("websocket.send takes one of 'text' (a str) "
                                               "and 'bytes' (a byte string)")
                try:
                    return await self.websocket.send(payload)
                except WebSocketDisconnect as exc:
                    self.told_closed = True
                    raise ClientDisconnected(f"the WebSocket is closed ({exc})") from None
            if kind == "websocket.close":
                return await self._close(message)
        elif phase is CONNECTING:
            if kind == "websocket.accept":
                return await self._accept(message)
            if kind == "websocket.close":
                self.phase = ANSWERED
                return await self.websocket.close()  # refuses the handshake: 403
            if kind == "websocket.http.response.start":
                self.denial = HTTPCycle(self.request)
                await self.denial.send({**message, "type": "http.response.start"})
                self.phase = DENYING
                return None
        elif phase is DENYING:
            if kind == "websocket.http.response.body":
                return await self._send_denial_body(message)
        elif kind == "websocket.close" or kind == "websocket.http.response.body":
            return None  # the exchange is over: closing again, or more of an ended body
        raise self._protocol_error(f"unexpected {kind!r} {_WHERE[phase]}")

    async def _accept(self, message: dict[str, Any]) -> None:
        try:
            headers = [(name.decode("latin-1"), value.decode("latin-1"))
                       for name, value in message.get("headers") or ()]
        except (AttributeError, TypeError, ValueError):
            raise self._protocol_error("websocket.accept headers must be pairs of byte strings") \
                from None
        self.phase = OPEN
        try:
            await self.websocket.accept(message.get("subprotocol") or None, headers)
        except ValueError as exc:  # a subprotocol not offered, a field it may not set
            self.phase = CONNECTING
            raise self._protocol_error(f"websocket.accept refused: {exc}") from None
        except WebSocketDisconnect:
            self.told_closed = True
            raise ClientDisconnected("the client left during the WebSocket handshake") from None

    async def _close(self, message: dict[str, Any]) -> None:
        code = message.get("code")
        reason = message.get("reason") or ""
        if code is None:
            code = CloseCode.NORMAL_CLOSURE
        if not isinstance(code, int) or isinstance(code, bool) or not isinstance(reason, str):
            raise self._protocol_error(f"websocket.close needs an int code and a str reason, "
                                       f"not {code!r} and {reason!r}")
        try:
            await self.websocket.close(code, reason)
        except ValueError as exc:  # a code that may not be sent, a reason too long
            raise self._protocol_error(f"websocket.close refused: {exc}") from None
        except WebSocketDisconnect:
            pass  # the client left during the handshake: nothing to close

    async def _send_denial_body(self, message: dict[str, Any]) -> None:
        denial = self.denial
        await denial.send({**message, "type": "http.response.body"})  # type: ignore[union-attr]
        if denial.phase is DONE:  # type: ignore[union-attr]
            self._answer(None, ANSWERED)  # sent on the channel by the denial itself

    def _protocol_error(self, what: str) -> ASGIProtocolError:
        log.error("ASGI protocol error on the WebSocket %s: %s", self.request.path, what)
        return ASGIProtocolError(what)

    # -- the application's call --------------------------------------------------

    async def run(self, app: Any, scope: dict[str, Any]) -> None:
        """Call the application; then answer the handshake if it did
        not, and close the WebSocket if it is open."""
        code = CloseCode.NORMAL_CLOSURE
        try:
            await app(scope, self.receive, self.send)
        except Exception as exc:
            code = CloseCode.INTERNAL_ERROR
            self._failed(exc)
        except BaseException:
            code = CloseCode.INTERNAL_ERROR  # cancelled: the process is going down
            raise
        else:
            self._returned()
        finally:
            if self.phase is OPEN:
                try:
                    await self.websocket.close(code)
                except WebSocketDisconnect:
                    pass  # the client left during the handshake

    def _returned(self) -> None:
        phase = self.phase
        if phase is DENYING:
            self._answer(self.denial.returned(), ANSWERED)  # type: ignore[union-attr]
        elif phase is CONNECTING:
            if not self.told_closed:  # else the client left, and the application heard it
                log.error("ASGI application returned without answering the WebSocket "
                          "handshake of %s", self.request.path)
            self._answer(Response("Internal Server Error", 500), ANSWERED)

    def _failed(self, exc: Exception) -> None:
        phase = self.phase
        if phase is DENYING:
            self._answer(self.denial.failed(exc), ANSWERED)  # type: ignore[union-attr]
            return
        path = self.request.path
        if isinstance(exc, ClientDisconnected):
            pass  # our own signal that the WebSocket closed, come back
        elif self.told_closed or (phase is CONNECTING and self.request.channel.closed):
            # What a framework makes of a closed WebSocket (Starlette's
            # WebSocketDisconnect): nothing to answer, nothing to fix.
            log.info("ASGI application raised %r after the WebSocket %s closed", exc, path)
        elif not isinstance(exc, ASGIProtocolError):  # that one was logged when raised
            log.error("Exception in ASGI application on the WebSocket %s", path, exc_info=exc)
        if phase is CONNECTING:
            self._answer(Response("Internal Server Error", 500), ANSWERED)

    def _answer(self, response: Response | None, phase: str) -> None:
        """Answer the handshake with `response` (None: already sent), if
        nothing answered it yet."""
        self.phase = phase
        if not self.decision.done():
            self.decision.set_result(response)
