"""The server side of a WebSocket connection (RFC 6455 sections 5 and 7), no I/O.

Bytes in, events out; calls in, bytes out::

    connection = WebSocketConnection(max_message_size=1 << 20, deflate=parameters)
    connection.receive_data(data)          # whatever the socket read
    connection.receive_eof()               # the socket reached its end
    while (event := connection.next_event()) is not None:
        ...                                # TextMessage, BinaryMessage, Ping, Pong, Close
    connection.send_text("hello")          # also send_binary, send_ping, send_pong, send_close
    transport.write(connection.data_to_send())

Events are whole messages: fragments are joined (control frames may come
between them and are reported as they arrive) and bounded by
`max_message_size`, counted after decompression. A text message is checked
as UTF-8 while its bytes arrive, so invalid text fails the connection at the
first bad byte, not at the end of the message.

Some answers are the protocol's own and are queued for `data_to_send()`
without being asked for: a pong for every ping received while the connection
is open (the `Ping` event is still reported, to tell the application the
peer is alive), and the reply to the peer's close frame, which echoes its
code. `Close.code` is 1005 when the peer's close frame had no code and 1006
when the transport ended without a close frame.

A peer that breaks the protocol makes `next_event()` raise a
`WebSocketError` (`ProtocolViolation` 1002, `InvalidPayload` 1007,
`MessageTooBig` 1009) after queueing the close frame that carries its code;
from then on the connection is `FAILED`: input is dropped and `next_event()`
raises the same error again (fail closed). Once the close handshake is done
(`CLOSED`), further input is ignored; the server then closes the transport.

`deflate` is the result of `ws_deflate.negotiate_deflate()` when the client
and server agreed on permessage-deflate: outgoing messages are compressed and
incoming ones may be (RSV1 on their first frame).
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, IntEnum

from .defaults import WS_MAX_MESSAGE_SIZE
from .ws_deflate import DeflateParameters, MessageDeflater
from .ws_errors import (
    CloseCode, InvalidPayload, MessageTooBig, ProtocolViolation, WebSocketError,
    is_valid_close_code)

__all__ = [
    "BinaryMessage", "Close", "ConnectionClosed", "ConnectionState", "Event", "Opcode", "Ping",
    "Pong", "TextMessage", "WebSocketConnection",
]

# RFC 6455 5.5: a control frame's payload fits in the 7-bit length.
MAX_CONTROL_PAYLOAD = 125


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


# Plain ints on the hot path: building or looking up enum members costs.
_CONTINUATION, _TEXT, _BINARY = 0x0, 0x1, 0x2
_CLOSE, _PING, _PONG = 0x8, 0x9, 0xA
_OPCODES = frozenset(map(int, Opcode))
_utf8_decoder = codecs.getincrementaldecoder("utf-8")
_FIN, _RSV1, _RSV2_RSV3, _OPCODE_BITS = 0x80, 0x40, 0x30, 0x0F
_MASKED, _LENGTH_BITS = 0x80, 0x7F


@dataclass(frozen=True, slots=True)
class TextMessage:
    data: str


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The peer closed (its code, or 1005 for none) or vanished (1006)."""

    code: int
    reason: str = ""


Event = TextMessage | BinaryMessage | Ping | Pong | Close


class ConnectionState(Enum):
    OPEN = "open"
    CLOSING = "closing"   # our close frame is sent, the peer's is awaited
    CLOSED = "closed"     # both close frames exchanged, or the transport ended
    FAILED = "failed"     # the peer broke the protocol; our close frame is queued


_OPEN = ConnectionState.OPEN  # one global lookup on the per-message path


class ConnectionClosed(RuntimeError):
    """Raised when sending after our close frame, or on a closed connection."""


class WebSocketConnection:
    __slots__ = (
        "max_message_size", "_deflater", "_state", "_buffer", "_outgoing", "_eof",
        "_error", "_in_frame", "_fin", "_opcode", "_mask", "_remaining", "_offset",
        "_message_opcode", "_message_compressed", "_message_size", "_text_decoder",
        "_message_parts",
    )

    def __init__(self, *, max_message_size: int = WS_MAX_MESSAGE_SIZE,
                 deflate: DeflateParameters | None = None) -> None:
        if max_message_size < 1:
            raise ValueError("max_message_size must be positive")
        self.max_message_size = max_message_size
        self._deflater = MessageDeflater(deflate) if deflate is not None else None
        self._state = ConnectionState.OPEN
        self._buffer = bytearray()
        self._outgoing = bytearray()
        self._eof = False
        self._error: WebSocketError | None = None
        # The frame being read: its header is parsed once it is complete.
        self._in_frame = False
        self._fin = True
        self._opcode = _CONTINUATION
        self._mask = b""
        self._remaining = 0
        self._offset = 0           # payload bytes unmasked so far
        # The message being assembled from data frames.
        self._message_opcode: int | None = None
        self._message_compressed = False
        self._message_size = 0
        self._text_decoder = None
        self._message_parts: list = []

    @property
    def state(self) -> ConnectionState:
        return self._state

    # -- input ------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; they are parsed by `next_event()`.
        Nothing is kept once the close handshake is done or has failed."""
        if self._state in (ConnectionState.OPEN, ConnectionState.CLOSING) and not self._eof:
            self._buffer += data

    def receive_eof(self) -> None:
        """The transport ended: after what is buffered, a `Close(1006)`
        unless the peer's close frame arrived first."""
        self._eof = True

    def next_event(self) -> Event | None:
        """The next event, or None until more data (or the end) arrives."""
        if not self._buffer and not self._eof and self._error is None:
            return None  # every event ends with the bytes of its frame
        if self._error is not None:
            raise self._error
        if self._state is ConnectionState.CLOSED:
            return None
        try:
            event = self._read_event()
        except WebSocketError as exc:
            self._fail(exc)
            raise
        if event is None and self._eof:
            self._state = ConnectionState.CLOSED
            self._buffer.clear()
            return Close(CloseCode.ABNORMAL_CLOSURE)
        return event

    def events(self) -> Iterator[Event]:
        """Every event available now (a `WebSocketError` ends the iteration
        by propagating, like `next_event()`)."""
        while (event := self.next_event()) is not None:
            yield event

    def _fail(self, error: WebSocketError) -> None:
        if self._state is ConnectionState.OPEN:
            # The reason, cut to fit a control frame without splitting a character.
            reason = error.reason.encode("utf-8")[:MAX_CONTROL_PAYLOAD - 2]
            reason = reason.decode("utf-8", "ignore").encode("utf-8")
            self._queue_frame(_CLOSE, struct.pack("!H", error.code) + reason)
        self._state = ConnectionState.FAILED
        self._error = error
        self._buffer.clear()
        self._message_parts = []

    def _read_event(self) -> Event | None:
        buffer = self._buffer
        if (not self._in_frame and self._message_opcode is None and len(buffer) >= 6
                and (buffer[0] == 0x81 or buffer[0] == 0x82) and 0x80 <= buffer[1] <= 0xFD):
            # The common case, read in one step: a whole message in one
            # final, uncompressed, masked frame of up to 125 bytes.
            end = buffer[1] - 0x7A  # 6 header bytes + the 7-bit length
            if len(buffer) >= end and end - 6 <= self.max_message_size:
                binary = buffer[0] == 0x82
                payload = _unmask(bytes(buffer[6:end]), bytes(buffer[2:6]), 0)
                del buffer[:end]
                if binary:
                    return BinaryMessage(payload)
                try:
                    return TextMessage(payload.decode("utf-8"))
                except UnicodeDecodeError:
                    raise InvalidPayload("text message is not valid UTF-8") from None
        while True:
            if not self._in_frame and not self._read_header():
                return None
            if self._opcode >= _CLOSE:
                return self._read_control_frame()
            event = self._read_data()
            if event is not None or self._in_frame:
                return event

    def _read_header(self) -> bool:
        """Parse the next frame header if it arrived whole; refuse a bad one
        as soon as its first two bytes show it."""
        buffer = self._buffer
        if len(buffer) < 2:
            return False
        first, second = buffer[0], buffer[1]
        opcode, length = first & _OPCODE_BITS, second & _LENGTH_BITS
        if opcode not in _OPCODES:
            raise ProtocolViolation(f"reserved opcode {opcode}")
        if first & _RSV2_RSV3:
            raise ProtocolViolation("reserved bit set without an extension")
        compressed = bool(first & _RSV1)
        if compressed:
            if self._deflater is None:
                raise ProtocolViolation("RSV1 set without permessage-deflate")
            if opcode != _TEXT and opcode != _BINARY:
                raise ProtocolViolation("RSV1 set outside the first frame of a message")
        if not second & _MASKED:
            raise ProtocolViolation("client frame not masked")
        fin = bool(first & _FIN)
        if opcode >= _CLOSE:
            if not fin:
                raise ProtocolViolation("fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolViolation("control frame payload over 125 bytes")
        elif opcode == _CONTINUATION:
            if self._message_opcode is None:
                raise ProtocolViolation("continuation frame outside a fragmented message")
        elif self._message_opcode is not None:
            raise ProtocolViolation("new message before the fragmented one ended")

        start = 2 + (2 if length == 126 else 8 if length == 127 else 0)
        if len(buffer) < start + 4:
            return False
        if length == 126:
            length = int.from_bytes(buffer[2:4], "big")
        elif length == 127:
            length = int.from_bytes(buffer[2:10], "big")
            if length >> 63:
                raise ProtocolViolation("payload length with its most significant bit set")
        if opcode == _TEXT or opcode == _BINARY:
            self._start_message(opcode, compressed)
        if (opcode < _CLOSE and not self._message_compressed
                and self._message_size + length > self.max_message_size):
            raise MessageTooBig(f"message over {self.max_message_size} bytes")
        self._mask = bytes(buffer[start:start + 4])
        del buffer[:start + 4]
        self._in_frame = True
        self._fin = fin
        self._opcode = opcode
        self._remaining = length
        self._offset = 0
        return True

    def _start_message(self, opcode: int, compressed: bool) -> None:
        self._message_opcode = opcode
        self._message_compressed = compressed
        self._message_size = 0
        self._message_parts = []
        self._text_decoder = None  # made when a text message comes in pieces

    def _take_payload(self, size: int) -> bytes:
        buffer = self._buffer
        data = _unmask(bytes(buffer[:size]), self._mask, self._offset)
        del buffer[:size]
        self._offset += size
        self._remaining -= size
        if self._remaining == 0:
            self._in_frame = False
        return data

    def _read_data(self) -> Event | None:
        """Consume what arrived of a data frame's payload; the event of its
        message once the final frame ended."""
        remaining = self._remaining
        if (self._fin and self._offset == 0 and remaining <= len(self._buffer)
                and self._opcode != _CONTINUATION and not self._message_compressed):
            return self._whole_message(self._take_payload(remaining))
        size = min(remaining, len(self._buffer))
        if size == 0 and remaining:
            return None
        self._add_to_message(self._take_payload(size))
        if self._in_frame or not self._fin:
            return None
        return self._end_message()

    def _whole_message(self, payload: bytes) -> TextMessage | BinaryMessage:
        """The common case, one frame holding a whole uncompressed message."""
        self._message_opcode = None
        if self._opcode == _BINARY:
            return BinaryMessage(payload)
        try:
            return TextMessage(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidPayload("text message is not valid UTF-8") from None

    def _add_to_message(self, data: bytes) -> None:
        if self._message_compressed:
            data = self._deflater.decompress(data, self.max_message_size - self._message_size)
        elif not data:
            return
        self._message_size += len(data)
        if self._message_size > self.max_message_size:
            raise MessageTooBig(f"message over {self.max_message_size} bytes")
        if self._message_opcode == _TEXT:
            if self._text_decoder is None:
                self._text_decoder = _utf8_decoder("strict")
            try:
                self._message_parts.append(self._text_decoder.decode(data))
            except UnicodeDecodeError:
                raise InvalidPayload("text message is not valid UTF-8") from None
        elif data:
            self._message_parts.append(data)

    def _end_message(self) -> TextMessage | BinaryMessage:
        if self._message_compressed:
            self._add_to_message(
                self._deflater.end_message(self.max_message_size - self._message_size))
        parts, self._message_parts = self._message_parts, []
        opcode, self._message_opcode = self._message_opcode, None
        if opcode == _TEXT:
            if self._text_decoder is not None:
                try:
                    parts.append(self._text_decoder.decode(b"", True))
                except UnicodeDecodeError:
                    raise InvalidPayload("text message ends inside a UTF-8 sequence") from None
                self._text_decoder = None
            return TextMessage("".join(parts))
        return BinaryMessage(b"".join(parts))

    def _read_control_frame(self) -> Ping | Pong | Close | None:
        if len(self._buffer) < self._remaining:
            return None
        payload = self._take_payload(self._remaining)
        opcode = self._opcode
        if opcode == _PING:
            if self._state is ConnectionState.OPEN:
                self._queue_frame(_PONG, payload)
            return Ping(payload)
        if opcode == _PONG:
            return Pong(payload)
        return self._receive_close(payload)

    def _receive_close(self, payload: bytes) -> Close:
        if not payload:
            code, reason = CloseCode.NO_STATUS_RECEIVED, ""
        elif len(payload) == 1:
            raise ProtocolViolation("close frame payload of one byte")
        else:
            code = int.from_bytes(payload[:2], "big")
            if not is_valid_close_code(code):
                raise ProtocolViolation(f"invalid close code {code}")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidPayload("close reason is not valid UTF-8") from None
        if self._state is ConnectionState.OPEN:
            # RFC 6455 5.5.1: answer with a close frame echoing the code.
            self._queue_frame(_CLOSE, payload[:2])
        self._state = ConnectionState.CLOSED
        self._buffer.clear()
        self._message_parts = []
        return Close(code, reason)

    # -- output -----------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the peer so far, in order; empties the queue."""
        if not self._outgoing:
            return b""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def send_text(self, text: str) -> None:
        payload = text.encode("utf-8")
        if len(payload) < 126 and self._deflater is None and self._state is _OPEN:
            self._outgoing += bytes((_FIN | _TEXT, len(payload))) + payload  # the common case
        else:
            self._send_message(_TEXT, payload)

    def send_binary(self, data: bytes) -> None:
        self._send_message(_BINARY, bytes(data))

    def send_ping(self, payload: bytes = b"") -> None:
        self._send_control(_PING, payload)

    def send_pong(self, payload: bytes = b"") -> None:
        """An unsolicited pong (a heartbeat the peer need not answer)."""
        self._send_control(_PONG, payload)

    def send_close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the close handshake; the peer's answer comes as a `Close`."""
        if not is_valid_close_code(code):
            raise ValueError(f"{code} cannot be sent in a close frame")
        payload = struct.pack("!H", code) + reason.encode("utf-8")
        self._send_control(_CLOSE, payload)
        self._state = ConnectionState.CLOSING

    def _send_message(self, opcode: int, payload: bytes) -> None:
        self._check_open()
        if self._deflater is None:
            self._queue_frame(opcode, payload)
        else:
            self._queue_frame(opcode, self._deflater.compress(payload), compressed=True)

    def _send_control(self, opcode: int, payload: bytes) -> None:
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError("a control frame's payload is at most 125 bytes")
        self._check_open()
        self._queue_frame(opcode, bytes(payload))

    def _check_open(self) -> None:
        if self._state is not ConnectionState.OPEN:
            raise ConnectionClosed(f"the connection is {self._state.value}")

    def _queue_frame(self, opcode: int, payload: bytes, compressed: bool = False) -> None:
        """A server frame: final, unmasked (RFC 6455 5.1)."""
        first = _FIN | (_RSV1 if compressed else 0) | opcode
        length = len(payload)
        if length < 126:
            self._outgoing += struct.pack("!BB", first, length)
        elif length < 65536:
            self._outgoing += struct.pack("!BBH", first, 126, length)
        else:
            self._outgoing += struct.pack("!BBQ", first, 127, length)
        self._outgoing += payload


def _unmask(data: bytes, mask: bytes, offset: int) -> bytes:
    """XOR with the 4-byte mask, starting `offset` bytes into the payload;
    one big-integer operation rather than a Python loop per byte."""
    size = len(data)
    if size == 0:
        return data
    shift = offset % 4
    key = (mask[shift:] + mask[:shift]) * (size // 4 + 1)
    return (int.from_bytes(data, "little")
            ^ int.from_bytes(key[:size], "little")).to_bytes(size, "little")
