"""The test client's WebSocket (`client.websocket_connect(url)`, see `testing`).

The handshake goes through the real connection code like any test
request; after the 101 the in-memory transport hands what the server
writes to a `TestWebSocket`, which reads it as a strict client does
(unmasked frames only, the close handshake, pings answered), and what the
test sends arrives as masked frames, as from a socket.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .ws_errors import CloseCode, WebSocketDisconnect

__all__ = ["SyncTestWebSocket", "TestWebSocket", "WebSocketRefused", "WebSocketViolation",
           "open_websocket"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CLOSE, _PING, _PONG = 0x1, 0x2, 0x8, 0x9, 0xA
TIMEOUT = 30.0


class WebSocketRefused(AssertionError):
    """The server answered the handshake with something else than 101:
    `response` is that answer (status, headers, body)."""

    def __init__(self, response: Any) -> None:
        super().__init__(f"the WebSocket handshake was answered with {response.status_code}")
        self.response = response


class WebSocketViolation(AssertionError):
    """The server sent what a strict WebSocket client would refuse."""


def handshake_fields(subprotocols: list[str] | tuple[str, ...]) -> tuple[str, dict[str, str]]:
    """A fresh key and the header fields of a handshake offering `subprotocols`."""
    key = base64.b64encode(os.urandom(16)).decode()
    fields = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-key": key,
              "sec-websocket-version": "13"}
    if subprotocols:
        fields["sec-websocket-protocol"] = ", ".join(subprotocols)
    return key, fields


def check_accept(key: str, headers: Any, subprotocols: list[str] | tuple[str, ...]) -> str | None:
    """Check the 101 as RFC 6455 4.1 asks a client to; the chosen subprotocol."""
    expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()
    if headers.get("sec-websocket-accept") != expected:
        raise WebSocketViolation("wrong Sec-WebSocket-Accept in the 101")
    if (headers.get("upgrade") or "").lower() != "websocket":
        raise WebSocketViolation("the 101 does not upgrade to websocket")
    chosen = headers.get("sec-websocket-protocol")
    if chosen is not None and chosen not in subprotocols:
        raise WebSocketViolation(f"the server chose the subprotocol {chosen!r}, never offered")
    if headers.get("sec-websocket-extensions"):
        raise WebSocketViolation("the server agreed to an extension that was not offered")
    return chosen


@asynccontextmanager
async def open_websocket(response: Any, key: str, subprotocols: list[str] | tuple[str, ...]
                         ) -> AsyncIterator[TestWebSocket]:
    """The WebSocket of a `testing.StreamingTestResponse` that is a 101:
    from now on its transport's writes are frames for the WebSocket.
    Leaving the block closes it (the close handshake) if it is still open."""
    websocket = TestWebSocket(response._transport, check_accept(key, response.headers, subprotocols),
                              response)
    reader = response._reader
    response._transport.reader = websocket
    if reader.buffer:  # frames the server sent before the test got the 101
        websocket.feed(bytes(reader.buffer))
    try:
        yield websocket
    finally:
        if websocket._closed is None:
            await websocket.close()


class TestWebSocket:
    """The client side of one WebSocket to the app under test."""

    __test__ = False

    def __init__(self, transport: Any, subprotocol: str | None, response: Any) -> None:
        self.subprotocol = subprotocol
        self.response = response  # the 101
        self._transport = transport
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._messages: asyncio.Queue[str | bytes | Exception] = asyncio.Queue()
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0
        self._close_sent = False
        self._closed: WebSocketDisconnect | None = None

    # -- what the server writes (the transport's reader) ------------------------

    def feed(self, data: bytes) -> None:
        self._buffer += data
        try:
            while self._read_frame():
                pass
        except WebSocketViolation as exc:  # for the test to see, not the server
            self._buffer.clear()
            self._messages.put_nowait(exc)
            self._end(WebSocketDisconnect(CloseCode.PROTOCOL_ERROR, str(exc)))

    def closed(self) -> None:
        """The server hung up."""
        self._end(WebSocketDisconnect(CloseCode.ABNORMAL_CLOSURE))

    def _read_frame(self) -> bool:
        buffer = self._buffer
        if len(buffer) < 2:
            return False
        first, second = buffer[0], buffer[1]
        if second & 0x80:
            raise WebSocketViolation("the server masked a frame")
        if first & 0x70:
            raise WebSocketViolation("a reserved bit is set")
        length, start = second & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return False
            length, start = struct.unpack_from("!H", buffer, 2)[0], 4
        elif length == 127:
            if len(buffer) < 10:
                return False
            length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
        if len(buffer) < start + length:
            return False
        payload = bytes(buffer[start:start + length])
        del buffer[:start + length]
        self._frame(first & 0x80, first & 0x0F, payload)
        return True

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == _PING:
            self._send_frame(_PONG, payload)
        elif opcode == _CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if payload else CloseCode.NO_STATUS_RECEIVED
            if not self._close_sent:
                self._send_frame(_CLOSE, payload[:2])
                self._close_sent = True
            self._end(WebSocketDisconnect(code, payload[2:].decode("utf-8")))
        elif opcode in (_TEXT, _BINARY, 0):
            if opcode:
                self._fragment_opcode, self._fragments = opcode, []
            self._fragments.append(payload)
            if fin:
                data = b"".join(self._fragments)
                self._messages.put_nowait(data.decode("utf-8") if self._fragment_opcode == _TEXT
                                          else data)
        elif opcode != _PONG:
            raise WebSocketViolation(f"reserved opcode {opcode}")

    def _end(self, reason: WebSocketDisconnect) -> None:
        if self._closed is None:
            self._closed = reason
            self._messages.put_nowait(reason)

    # -- what the test does -------------------------------------------------------

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        key = (mask * (length // 4 + 1))[:length]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
        # From a loop callback, as a socket's bytes arrive.
        self._loop.call_soon(self._transport.protocol.data_received, head + mask + masked)

    def _check_open(self) -> None:
        if self._closed is not None or self._close_sent:
            raise WebSocketDisconnect(*(self._closed.args if self._closed else (1000, "")))

    async def send_text(self, data: str) -> None:
        self._check_open()
        self._send_frame(_TEXT, data.encode("utf-8"))

    async def send_bytes(self, data: bytes) -> None:
        self._check_open()
        self._send_frame(_BINARY, bytes(data))

    async def send_json(self, data: Any) -> None:
        await self.send_text(json.dumps(data))

    async def receive(self) -> str | bytes:
        """The next message; `WebSocketDisconnect` once the server closed."""
        message = await asyncio.wait_for(self._messages.get(), TIMEOUT)
        if isinstance(message, WebSocketDisconnect):
            self._messages.put_nowait(message)  # and again for the next call
            raise WebSocketDisconnect(message.code, message.reason)
        if isinstance(message, WebSocketViolation):
            raise message
        return message

    async def receive_text(self) -> str:
        message = await self.receive()
        if not isinstance(message, str):
            raise AssertionError(f"expected a text message, got {message!r}")
        return message

    async def receive_bytes(self) -> bytes:
        message = await self.receive()
        if not isinstance(message, bytes):
            raise AssertionError(f"expected a binary message, got {message!r}")
        return message

    async def receive_json(self) -> Any:
        return json.loads(await self.receive())

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Send a close frame and wait for the server's answer."""
        if self._closed is None and not self._close_sent:
            self._close_sent = True
            self._send_frame(_CLOSE, struct.pack("!H", code) + reason.encode("utf-8"))
        while self._closed is None:
            await asyncio.wait_for(self._messages.get(), TIMEOUT)


class SyncTestWebSocket:
    """`TestWebSocket` for plain tests: every call runs on the client's loop."""

    __test__ = False

    def __init__(self, websocket: TestWebSocket, call: Any) -> None:
        self._websocket = websocket
        self._call = call
        self.subprotocol = websocket.subprotocol
        self.response = websocket.response

    def send_text(self, data: str) -> None:
        self._call(self._websocket.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        self._call(self._websocket.send_bytes(data))

    def send_json(self, data: Any) -> None:
        self._call(self._websocket.send_json(data))

    def receive(self) -> str | bytes:
        return self._call(self._websocket.receive())

    def receive_text(self) -> str:
        return self._call(self._websocket.receive_text())

    def receive_bytes(self) -> bytes:
        return self._call(self._websocket.receive_bytes())

    def receive_json(self) -> Any:
        return self._call(self._websocket.receive_json())

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        self._call(self._websocket.close(code, reason))
