"""One open WebSocket on its transport: the asyncio side of `ws_protocol`.

After the 101 the HTTP connection hands its transport to a
`WebSocketChannel` (see `exchange`). The channel feeds what arrives to the
sans-I/O `WebSocketConnection`, queues the messages for `receive()`,
writes what the connection has to say by itself (pongs, the answer to a
close), and holds the peer to its side of the bargain:

- **Backpressure both ways.** `send()` waits while the transport holds more
  than its high-water mark (a client that reads slowly slows its sender,
  nothing is buffered without bound), and the socket is not read while
  more messages than `_MAX_UNREAD_MESSAGES`, or more than
  `_MAX_UNREAD_BYTES`, wait for the application.
- **Keep-alive.** A ping every `ws_ping_interval` seconds. A pong that does
  not come within `ws_ping_timeout` fails the connection (RFC 6455 7.1.7):
  a close frame with 1011 goes out if it can and the connection is
  dropped; the application sees 1006, since no close frame came back
  (7.1.5).
- **Closing.** The peer's close frame is answered (by `ws_protocol`) and
  the transport closed: the server closes TCP first (7.1.1). Our own close
  (the application's `close()`, the end of its handler, the drain's 1001
  from `going_away()`) waits for the peer's answer for
  `defaults.WS_CLOSE_TIMEOUT` seconds at most, so that a drain never waits
  its whole graceful timeout for a client that does not answer. A peer
  that breaks the protocol gets the close code of its error (1002, 1007,
  1009) and the connection is closed.

Once closed in any of these ways, `receive()` (after the messages already
queued) and `send()` raise `WebSocketDisconnect` with the close code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .defaults import WS_CLOSE_TIMEOUT
from .ws_errors import CloseCode, WebSocketDisconnect, WebSocketError
from .ws_protocol import BinaryMessage, Close, Pong, TextMessage, WebSocketConnection

if TYPE_CHECKING:
    from .ws_deflate import DeflateParameters

log = logging.getLogger("zerodep_http.error")

# Messages received and not yet read before the socket stops being read.
_MAX_UNREAD_MESSAGES = 64
_MAX_UNREAD_BYTES = 256 * 1024


class WebSocketChannel(asyncio.Protocol):
    """An open WebSocket: messages in, messages out, on one transport.

    `settings` are the connection's (`protocol.ConnectionSettings`: the
    `ws_*` fields); `opened` is resolved once the transport is here;
    `drained()` is called when the connection ends after `going_away()`.
    """

    __slots__ = (
        "_connection", "_transport", "_loop", "_opened", "_ping_interval", "_ping_timeout",
        "_messages", "_unread", "_receiver", "_reading_paused", "_write_paused", "_writers",
        "_closed", "_timer", "_awaiting_pong", "_drained", "_going_away",
    )

    def __init__(self, settings: Any, deflate: DeflateParameters | None,
                 opened: asyncio.Future[None], drained: Callable[[], None]) -> None:
        self._connection = WebSocketConnection(
            max_message_size=settings.ws_max_message_size, deflate=deflate)
        self._ping_interval: float = settings.ws_ping_interval
        self._ping_timeout: float = settings.ws_ping_timeout
        self._transport: asyncio.Transport | None = None
        self._loop = opened.get_loop()
        self._opened = opened
        self._messages: list[str | bytes] = []
        self._unread = 0
        self._receiver: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._write_paused = False
        self._writers: list[asyncio.Future[None]] = []
        # (code, reason) once the application can no longer talk.
        self._closed: tuple[int, str] | None = None
        # The one timer that runs: next ping, pong overdue, or close overdue.
        self._timer: asyncio.TimerHandle | None = None
        self._awaiting_pong = False
        self._drained = drained
        self._going_away = False

    # -- what the application calls -------------------------------------------

    async def receive(self, iterating: bool = False) -> str | bytes:
        """The next message; `WebSocketDisconnect` once closed and read
        (`StopAsyncIteration` when `iterating`: `async for` ends)."""
        while True:
            messages = self._messages
            if messages:
                data = messages.pop(0)
                self._unread -= len(data)
                if (self._reading_paused and len(messages) < _MAX_UNREAD_MESSAGES
                        and self._unread <= _MAX_UNREAD_BYTES):
                    self._reading_paused = False
                    self._transport.resume_reading()  # type: ignore[union-attr]
                return data
            if self._closed is not None:
                if iterating:
                    raise StopAsyncIteration
                raise WebSocketDisconnect(*self._closed)
            if self._receiver is not None:
                raise RuntimeError("another task is already waiting in receive()")
            waiter = self._receiver = self._loop.create_future()
            try:
                await waiter
            finally:
                self._receiver = None

    async def send(self, data: str | bytes) -> None:
        """Send a text (str) or binary message; waits while the client is slow."""
        if self._closed is not None:
            raise WebSocketDisconnect(*self._closed)
        connection = self._connection
        if isinstance(data, str):
            connection.send_text(data)
        elif isinstance(data, (bytes, bytearray, memoryview)):
            connection.send_binary(data)
        else:
            raise TypeError(f"a WebSocket message is str or bytes, not {type(data).__name__}")
        self._transport.write(connection.data_to_send())  # type: ignore[union-attr]
        if self._write_paused:
            waiter = self._loop.create_future()
            self._writers.append(waiter)
            await waiter

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Begin the close handshake (nothing if already closed). A code
        that may not travel in a close frame, or a reason over 123 bytes
        once encoded, is a ValueError."""
        if self._closed is not None:
            return
        self._connection.send_close(code, reason)
        self._closed = (code, reason)
        self._flush()
        self._wake_receiver()
        self._set_timer(WS_CLOSE_TIMEOUT, self._drop)

    def going_away(self) -> None:
        """The server drains: close with 1001 Going Away."""
        self._going_away = True
        self.close(CloseCode.GOING_AWAY, "server going away")

    # -- asyncio callbacks ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._schedule_ping()
        if not self._opened.done():
            self._opened.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._connection.receive_data(data)
        self._read_events()

    def eof_received(self) -> bool | None:
        self._connection.receive_eof()
        self._read_events()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed is None:
            self._closed = (CloseCode.ABNORMAL_CLOSURE, "")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake_receiver()
        writers, self._writers = self._writers, []
        for waiter in writers:
            if not waiter.done():
                waiter.set_exception(WebSocketDisconnect(*self._closed))
        if self._going_away:
            self._drained()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        writers, self._writers = self._writers, []
        for waiter in writers:
            if not waiter.done():
                waiter.set_result(None)

    # -- input ------------------------------------------------------------------

    def _read_events(self) -> None:
        connection = self._connection
        messages = self._messages
        try:
            while (event := connection.next_event()) is not None:
                kind = event.__class__
                if kind is TextMessage or kind is BinaryMessage:
                    messages.append(event.data)  # type: ignore[union-attr]
                    self._unread += len(event.data)  # type: ignore[union-attr]
                elif kind is Pong:
                    self._pong_received()
                elif kind is Close:
                    self._close_received(event)  # type: ignore[arg-type]
                # A Ping: its pong is already queued.
        except WebSocketError as exc:
            self._log("closed with %d: %s", exc.code, exc.reason)
            if self._closed is None:
                self._closed = (exc.code, exc.reason)
            self._flush()
            self._close_transport()
            self._wake_receiver()
            return
        if data := connection.data_to_send():  # pongs; _flush() inlined
            self._transport.write(data)  # type: ignore[union-attr]
        if messages:
            waiter = self._receiver  # _wake_receiver() inlined: once per message
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if (not self._reading_paused and self._transport is not None
                    and (len(messages) >= _MAX_UNREAD_MESSAGES or self._unread > _MAX_UNREAD_BYTES)):
                self._reading_paused = True
                self._transport.pause_reading()

    def _close_received(self, event: Close) -> None:
        """The peer closed (answered already), or answered our close, or
        the transport ended without a close frame (1006)."""
        if self._closed is None:
            self._closed = (event.code, event.reason)
        self._flush()
        self._close_transport()
        self._wake_receiver()

    def _wake_receiver(self) -> None:
        waiter = self._receiver
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- output -----------------------------------------------------------------

    def _flush(self) -> None:
        data = self._connection.data_to_send()
        transport = self._transport
        if data and transport is not None and not transport.is_closing():
            transport.write(data)

    def _close_transport(self) -> None:
        """Close once what is written went out; drop the connection if the
        peer does not take it in time."""
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.close()
            self._set_timer(WS_CLOSE_TIMEOUT, self._drop)

    def _drop(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._transport.abort()

    # -- keep-alive ---------------------------------------------------------------

    def _set_timer(self, delay: float, callback: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(delay, callback)

    def _schedule_ping(self) -> None:
        if self._ping_interval > 0:
            self._set_timer(self._ping_interval, self._ping)

    def _ping(self) -> None:
        self._timer = None
        if self._closed is not None:
            return
        self._connection.send_ping()
        self._flush()
        if self._ping_timeout > 0:
            self._awaiting_pong = True
            self._set_timer(self._ping_timeout, self._pong_overdue)
        else:
            self._schedule_ping()

    def _pong_received(self) -> None:
        if self._awaiting_pong and self._closed is None:
            self._awaiting_pong = False
            self._schedule_ping()

    def _pong_overdue(self) -> None:
        self._timer = None
        self._log("closed: no pong within %.1f s of a keep-alive ping", self._ping_timeout)
        # Fail the connection: a close frame if the socket takes it, no
        # waiting for an answer that will not come.
        self._connection.send_close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        self._flush()
        self._closed = (CloseCode.ABNORMAL_CLOSURE, "keepalive ping timeout")
        self._wake_receiver()
        self._drop()

    def _log(self, message: str, *args: Any) -> None:
        peer = self._transport.get_extra_info("peername") if self._transport else None
        where = peer[0] if isinstance(peer, tuple) else "?"
        log.info("WebSocket from %s " + message, where, *args)
