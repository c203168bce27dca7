"""WebSocket routes (`@app.websocket(...)`) and the `WebSocket` their handler gets.

A WebSocket route is a GET route whose endpoint runs the handshake, so the
App's `before_request` hooks have run before it (and may refuse it with any
response). Then, in this order:

1. **Origin**: with `App(websocket_origins=[...])`, a handshake whose
   `Origin` is not in the list gets 403 (cross-site WebSocket hijacking).
   A handshake without `Origin` is not from a browser and passes.
2. **Handshake** (`ws_handshake`): a request that does not ask for a
   WebSocket at all (a plain GET) gets 426 with `Upgrade: websocket`; a
   version other than 13 gets 426 with `Sec-WebSocket-Version: 13`; any
   other fault in the handshake gets 400.
3. **Handler**: `handler(request, ws, **params)` starts in a task of its
   own, and the endpoint waits for its decision. `await ws.accept(...)`, or
   the first `receive()` / `send()`, makes the endpoint return a
   `SwitchProtocol`: the connection writes the 101 and hands its transport
   to a `ws_channel.WebSocketChannel`, and `accept()` returns once it has.
   A handler that returns, or calls `ws.close()`, before accepting refuses
   the handshake with 403; one that raises before accepting answers like
   any handler that raises (`abort(401)` is a 401, a bug a 500).

The handler runs in its own task because the App's coroutine must have
returned its response before the connection can write the 101; the task
is the app's spawned work (`app.spawn`), so that a drain waits for
handlers to finish what they do after their `WebSocketDisconnect(1001)`.
After the 101 the task goes on by itself: when the handler returns the
WebSocket is closed with 1000, or 1011 if it raised (and the traceback is
logged); a `WebSocketDisconnect` it lets through is a normal end. A
handler still running `WS_CLOSE_TIMEOUT` seconds after a drain closed its
WebSocket (it waits for something else than the WebSocket, say a queue
of events to send) is cancelled, so that it does not hold the drain for
its whole graceful timeout. permessage-deflate is accepted when the client
offers it, with small windows (`_DEFLATE`): an idle connection holds no
compression memory.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from .defaults import WS_CLOSE_TIMEOUT
from .exceptions import HTTPException
from .requests import Request
from .responses import SwitchProtocol, _json_encode
from .ws_channel import WebSocketChannel
from .ws_deflate import DeflateParameters, DeflateSettings, negotiate_deflate
from .ws_errors import CloseCode, WebSocketDisconnect, is_valid_close_code
from .ws_handshake import (
    SUPPORTED_VERSION, HandshakeError, UpgradeRequest, accept_headers, is_upgrade_request,
    origin_allowed, parse_upgrade_request)

__all__ = ["WebSocket", "WebSocketDisconnect", "websocket_endpoint"]

log = logging.getLogger("zerodep_http.error")

# What the websockets library settles on too: 4 KiB windows each way and a
# small zlib state cost little compression on chat-sized messages, and keep
# a busy connection's compression memory in the tens of KiB, not ~300 KiB.
_DEFLATE = DeflateSettings(server_max_window_bits=12, client_max_window_bits=12, memory_level=5)
# A close reason fits a control frame with the code (RFC 6455 5.5).
_MAX_REASON = 123

# Where a WebSocket's handshake stands.
_CONNECTING = "connecting"  # the handler has not answered yet
_ACCEPTING = "accepting"    # accepted; the 101 is on its way
_OPEN = "open"              # the 101 went out: the channel carries messages
_REFUSED = "refused"        # answered with an HTTP error instead



class WebSocketHost(Protocol):
    """What a WebSocket route needs of its app."""

    #: Origins whose pages may open the app's WebSockets (None: any).
    websocket_origins: list[str] | None

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]: ...


class WebSocket:
    """The WebSocket of one handshake, as its handler sees it.

    `subprotocols` are the ones the client offered, in its order of
    preference; `subprotocol` is the one `accept()` chose, if any.
    """

    __slots__ = ("request", "subprotocols", "subprotocol", "_upgrade", "_decision", "_state",
                 "_channel", "_opened", "_deflate", "handler_task")

    def __init__(self, request: Request, upgrade: UpgradeRequest,
                 decision: asyncio.Future[Any]) -> None:
        self.request = request
        self.subprotocols = upgrade.subprotocols
        self.subprotocol: str | None = None
        self._upgrade = upgrade
        self._decision = decision  # what the endpoint answers the handshake with
        self._state = _CONNECTING
        self._channel: WebSocketChannel | None = None
        self._opened: asyncio.Future[None] | None = None
        self._deflate: DeflateParameters | None = None
        #: The task that runs the handler, set by whoever starts it: a drain
        #: gives it WS_CLOSE_TIMEOUT seconds after closing the WebSocket.
        self.handler_task: asyncio.Future[None] | None = None

    async def accept(self, subprotocol: str | None = None,
                     headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        """Complete the handshake with a 101, choosing `subprotocol` (one the
        client offered) and adding `headers` to the response; returns once
        the WebSocket is open. A handshake header in `headers`, or a field
        that could split the response, is a ValueError."""
        if self._state is not _CONNECTING:
            raise RuntimeError(f"the WebSocket handshake is already answered ({self._state})")
        extra = headers.items() if isinstance(headers, Mapping) else headers or ()
        self._deflate = negotiate_deflate(self._upgrade.extensions, _DEFLATE)
        fields = accept_headers(self._upgrade, subprotocol, extra,
                                self._deflate.header_value() if self._deflate else None)
        response = SwitchProtocol(self._open_channel)
        for name, value in fields:
            response.headers.add(name, value)
        response.head_prefix()  # a field that could split the response fails here
        self.subprotocol = subprotocol
        self._state = _ACCEPTING
        opened = self._opened = self._decision.get_loop().create_future()
        # If the client leaves before the switch, nothing opens the channel.
        gone = asyncio.ensure_future(self.request.channel.wait_closed())
        gone.add_done_callback(lambda task: task.cancelled() or opened.done() or opened.set_exception(
            WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE, "the client left during the handshake")))
        self._decision.set_result(response)
        try:
            await opened
        finally:
            gone.cancel()
        self._state = _OPEN

    def _open_channel(self, settings: Any) -> WebSocketChannel:
        """The protocol the connection switches to (`SwitchProtocol`)."""
        self._channel = WebSocketChannel(settings, self._deflate, self._opened,  # type: ignore[arg-type]
                                         self._drained)
        return self._channel

    def _drained(self) -> None:
        """A drain closed the WebSocket: the handler gets a few seconds to
        finish, then it is cancelled."""
        task = self.handler_task
        if task is not None and not task.done():
            task.get_loop().call_later(WS_CLOSE_TIMEOUT, self._cancel_handler)

    def _cancel_handler(self) -> None:
        task = self.handler_task
        if task is not None and not task.done():
            log.warning("Cancelled the WebSocket handler of %s, still running %.0f s after "
                        "the drain closed its WebSocket", self.request.path, WS_CLOSE_TIMEOUT)
            task.cancel()

    async def _open(self) -> WebSocketChannel:
        """The channel, accepting the handshake first if nobody did."""
        if self._state is _CONNECTING:
            await self.accept()
        elif self._state is _ACCEPTING:
            await asyncio.shield(self._opened)  # type: ignore[arg-type]
        elif self._state is _REFUSED:
            raise WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE, "the handshake was refused")
        return self._channel  # type: ignore[return-value]

    def receive(self) -> Awaitable[str | bytes]:
        """`await ws.receive()`: the next message, str for text, bytes for binary."""
        if self._state is _OPEN:  # the channel's own coroutine: one frame less per message
            return self._channel.receive()  # type: ignore[union-attr]
        return self._receive_after_open()

    async def _receive_after_open(self) -> str | bytes:
        return await (await self._open()).receive()

    async def receive_json(self) -> Any:
        """The next message parsed as JSON. A message that is not JSON closes
        the WebSocket with 1007 and raises `WebSocketDisconnect`."""
        message = await self.receive()
        try:
            return json.loads(message)
        except ValueError:
            reason = "message is not valid JSON"
            self._channel.close(CloseCode.INVALID_PAYLOAD, reason)  # type: ignore[union-attr]
            raise WebSocketDisconnect(CloseCode.INVALID_PAYLOAD, reason) from None

    def send(self, data: str | bytes) -> Awaitable[None]:
        """`await ws.send(data)`: a text (str) or binary (bytes) message;
        waits while the client is slow to read."""
        if self._state is _OPEN:
            return self._channel.send(data)  # type: ignore[union-attr]
        return self._send_after_open(data)

    async def _send_after_open(self, data: str | bytes) -> None:
        await (await self._open()).send(data)

    async def send_json(self, data: Any) -> None:
        """Send `data` as compact JSON in a text message."""
        await self.send(_json_encode(data))

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Close with `code` and `reason`; before `accept()`, refuse the
        handshake with 403 instead."""
        if not is_valid_close_code(code):
            raise ValueError(f"{code} cannot be sent in a close frame")
        if len(reason.encode("utf-8")) > _MAX_REASON:
            raise ValueError(f"a close reason is at most {_MAX_REASON} bytes of UTF-8")
        if self._state is _CONNECTING or self._state is _REFUSED:
            self._refuse()
            return
        channel = await self._open()
        channel.close(code, reason)

    def _refuse(self) -> None:
        self._state = _REFUSED
        if not self._decision.done():
            self._decision.set_exception(HTTPException(403, "WebSocket handshake refused"))

    def __aiter__(self) -> WebSocket:
        return self

    def __anext__(self) -> Awaitable[str | bytes]:
        """`async for message in ws` ends when the WebSocket closes."""
        if self._state is _OPEN:
            return self._channel.receive(iterating=True)  # type: ignore[union-attr]
        return self._next_after_open()

    async def _next_after_open(self) -> str | bytes:
        try:
            return await (await self._open()).receive(iterating=True)
        except WebSocketDisconnect:
            raise StopAsyncIteration from None

    def __repr__(self) -> str:
        return f"<WebSocket {self.request.path!r} {self._state}>"


Handler = Callable[..., Awaitable[None]]


def websocket_endpoint(handler: Handler, app: WebSocketHost) -> Callable[..., Awaitable[Any]]:
    """The GET endpoint that runs `handler`'s handshakes for `app`."""
    if not inspect.iscoroutinefunction(handler):
        raise TypeError(f"a WebSocket handler must be an async function, not {handler!r}")

    async def endpoint(request: Request, **params: Any) -> Any:
        headers = request.headers
        allowed = app.websocket_origins
        if allowed is not None and not origin_allowed(headers.get("origin"), allowed):
            raise HTTPException(403, "cross-site WebSocket handshake refused")
        if not is_upgrade_request(headers):
            raise HTTPException(426, "this is a WebSocket endpoint: ask for an upgrade",
                                {"upgrade": "websocket", "sec-websocket-version": SUPPORTED_VERSION})
        try:
            upgrade = parse_upgrade_request(request.method, request.http_version, headers)
        except HandshakeError as exc:
            raise HTTPException(exc.status, exc.reason, dict(exc.headers)) from None
        decision = asyncio.get_running_loop().create_future()
        ws = WebSocket(request, upgrade, decision)
        # The app being served waits for its spawned work when it drains
        # (this app, or the one it is mounted in).
        spawn = getattr(request.app, "spawn", app.spawn)
        task = ws.handler_task = spawn(_run(handler, request, ws, params))
        try:
            return await decision
        except asyncio.CancelledError:
            task.cancel()  # the connection is gone before any answer
            raise

    functools.update_wrapper(endpoint, handler, updated=())
    return endpoint


async def _run(handler: Handler, request: Request, ws: WebSocket, params: dict[str, Any]) -> None:
    """The handler's task: its exception before accepting is the endpoint's
    answer; after, it closes the WebSocket with 1011."""
    code = CloseCode.NORMAL_CLOSURE
    try:
        await handler(request, ws, **params)
    except WebSocketDisconnect:
        pass
    except Exception as exc:
        if not ws._decision.done():
            ws._decision.set_exception(exc)
            return
        log.error("Error in the WebSocket handler of %s", request.path, exc_info=exc)
        code = CloseCode.INTERNAL_ERROR
    except BaseException:
        code = CloseCode.INTERNAL_ERROR  # cancelled: the process is going down
        raise
    finally:
        if not ws._decision.done():
            ws._refuse()
        elif ws._channel is not None:
            ws._channel.close(code)
