"""Shared helpers of the WebSocket tests: client frames built by hand, server
frames read back, and a driver that feeds a connection and records what it
did. Written from RFC 6455 independently of zerodep_http's own framing code,
so that the two can disagree.
"""

from __future__ import annotations

import socket
import struct
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from zerodep_http.ws_errors import WebSocketError
from zerodep_http.ws_protocol import WebSocketConnection

CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODE_NAMES = {CONTINUATION: "continuation", TEXT: "text", BINARY: "binary",
                CLOSE: "close", PING: "ping", PONG: "pong"}
MASK = b"\x37\xfa\x21\x3d"


def mask_bytes(payload: bytes, mask: bytes) -> bytes:
    """XOR with the repeated mask, as one big-integer operation."""
    size = len(payload)
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(size, "big")


def frame(opcode: int, payload: bytes | str = b"", *, fin: bool = True, rsv: int = 0,
          mask: bytes | None = MASK, length_form: int | None = None) -> bytes:
    """One client frame. `rsv` is the three reserved bits as a number
    (4 = RSV1); `length_form` forces the 7-bit (0), 16-bit (126) or 64-bit
    (127) length encoding; `mask=None` sends it unmasked."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    size = len(payload)
    if length_form is None:
        length_form = 0 if size < 126 else 126 if size < 65536 else 127
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    mask_bit = 0x80 if mask is not None else 0
    if length_form == 0:
        head += bytes([mask_bit | size])
    elif length_form == 126:
        head += bytes([mask_bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", size)
    if mask is None:
        return head + payload
    return head + mask + mask_bytes(payload, mask)


def text(payload: bytes | str = b"", **options) -> bytes:
    return frame(TEXT, payload, **options)


def binary(payload: bytes = b"", **options) -> bytes:
    return frame(BINARY, payload, **options)


def continuation(payload: bytes | str = b"", **options) -> bytes:
    return frame(CONTINUATION, payload, **options)


def ping(payload: bytes | str = b"", **options) -> bytes:
    return frame(PING, payload, **options)


def pong(payload: bytes | str = b"", **options) -> bytes:
    return frame(PONG, payload, **options)


def close(code: int | None = 1000, reason: bytes | str = b"", **options) -> bytes:
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    payload = b"" if code is None else struct.pack("!H", code) + reason
    return frame(CLOSE, payload, **options)


def fragments(opcode: int, payload: bytes, size: int, **options) -> list[bytes]:
    """A message split into data frames of `size` payload bytes."""
    pieces = [payload[start:start + size] for start in range(0, len(payload), size)] or [b""]
    return [frame(opcode if index == 0 else CONTINUATION, piece,
                  fin=index == len(pieces) - 1, **options)
            for index, piece in enumerate(pieces)]


class ClientDeflater:
    """The client's half of permessage-deflate, written on zlib directly."""

    def __init__(self, window_bits: int = 15, no_context_takeover: bool = False) -> None:
        self.window_bits = max(window_bits, 9)
        self.no_context_takeover = no_context_takeover
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, -self.window_bits)

    def compress(self, payload: bytes) -> bytes:
        if self.no_context_takeover:
            self.compressor = zlib.compressobj(6, zlib.DEFLATED, -self.window_bits)
        data = self.compressor.compress(payload) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        return data[:-4]

    def message(self, opcode: int, payload: bytes, fragment_size: int = 0) -> list[bytes]:
        """Compressed frames of one message; RSV1 on the first only."""
        data = self.compress(payload)
        pieces = ([data[start:start + fragment_size]
                   for start in range(0, len(data), fragment_size)] if fragment_size else [data])
        pieces = pieces or [b""]
        return [frame(opcode if index == 0 else CONTINUATION, piece,
                      fin=index == len(pieces) - 1, rsv=4 if index == 0 else 0)
                for index, piece in enumerate(pieces)]


@dataclass(frozen=True)
class ServerFrame:
    fin: bool
    rsv: int
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int | None:
        assert self.opcode == CLOSE
        return struct.unpack("!H", self.payload[:2])[0] if self.payload else None


def server_frames(data: bytes) -> list[ServerFrame]:
    """Parse what the server queued: whole frames, never masked."""
    frames = []
    position = 0
    while position < len(data):
        first, second = data[position], data[position + 1]
        assert not second & 0x80, "a server frame is masked"
        length = second & 0x7F
        position += 2
        if length == 126:
            length = struct.unpack("!H", data[position:position + 2])[0]
            position += 2
        elif length == 127:
            length = struct.unpack("!Q", data[position:position + 8])[0]
            position += 8
        payload = data[position:position + length]
        assert len(payload) == length, "a server frame is cut short"
        position += length
        frames.append(ServerFrame(bool(first & 0x80), first >> 4 & 7, first & 0x0F, payload))
    return frames


def summarize(frames: Iterable[ServerFrame]) -> list[tuple]:
    """Pongs with their payload, closes with their code."""
    summary = []
    for item in frames:
        if item.opcode == CLOSE:
            summary.append(("close", item.close_code))
        else:
            summary.append((OPCODE_NAMES[item.opcode], item.payload))
    return summary


@dataclass
class Outcome:
    events: list = field(default_factory=list)
    sent: list = field(default_factory=list)
    error: int | None = None


def drive(connection: WebSocketConnection, chunks: Iterable[bytes], eof: bool = False) -> Outcome:
    """Feed each chunk and drain events and output after each; stop at a
    protocol error and check that the connection then fails closed."""
    outcome = Outcome()
    try:
        for chunk in chunks:
            connection.receive_data(chunk)
            outcome.events.extend(connection.events())
            outcome.sent.extend(summarize(server_frames(connection.data_to_send())))
        if eof:
            connection.receive_eof()
            outcome.events.extend(connection.events())
    except WebSocketError as exc:
        outcome.error = exc.code
        outcome.sent.extend(summarize(server_frames(connection.data_to_send())))
        connection.receive_data(text("more"))
        try:
            connection.next_event()
        except WebSocketError as again:
            assert again is exc, "a failed connection raised another error"
        else:
            raise AssertionError("a failed connection parsed more input")
        assert connection.data_to_send() == b"", "a failed connection sent more"
    return outcome


def whole(chunks: list[bytes]) -> list[bytes]:
    return [b"".join(chunks)]


def bytewise(chunks: list[bytes]) -> list[bytes]:
    raw = b"".join(chunks)
    return [raw[index:index + 1] for index in range(len(raw))]


def two_pieces(chunks: list[bytes]) -> Iterator[tuple[int, list[bytes]]]:
    raw = b"".join(chunks)
    for offset in range(len(raw) + 1):
        yield offset, [raw[:offset], raw[offset:]]


# -- a raw WebSocket client over a real socket -----------------------------------


def handshake_request(path: str = "/", headers: dict[str, str] | None = None,
                      key: str = "dGhlIHNhbXBsZSBub25jZQ==") -> bytes:
    """A client handshake; `headers` add to or replace the usual fields
    (a value of None drops the field)."""
    fields = {"Host": "test", "Upgrade": "websocket", "Connection": "Upgrade",
              "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
    fields.update(headers or {})
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields.items() if value is not None)
    return f"GET {path} HTTP/1.1\r\n{lines}\r\n".encode("latin-1")


class RawWebSocket:
    """One client connection driven frame by frame: the handshake as raw
    bytes (its response read at once unless `wait=False`), then `frame()`s
    sent and server frames read back, every read with a deadline."""

    def __init__(self, address: tuple[str, int], path: str = "/",
                 headers: dict[str, str] | None = None, extra: bytes = b"",
                 timeout: float = 10.0, rcvbuf: int | None = None, wait: bool = True) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.timeout = timeout
        self.buffer = b""
        self.sock.sendall(handshake_request(path, headers) + extra)
        self.status, self.head = self.read_head() if wait else (0, {})

    def _recv(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"timed out waiting for the server; have {self.buffer[:200]!r}")
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for the server; have {self.buffer[:200]!r}") from None
        except ConnectionResetError:
            return b""

    def read_head(self) -> tuple[int, dict[str, str]]:
        """The response to the handshake: status and header fields."""
        deadline = time.monotonic() + self.timeout
        while b"\r\n\r\n" not in self.buffer:
            data = self._recv(deadline)
            if not data:
                raise AssertionError(f"closed before a response head: {self.buffer!r}")
            self.buffer += data
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        fields: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            fields[name] = f"{fields[name]}, {value.strip()}" if name in fields else value.strip()
        return int(status_line.split()[1]), fields

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self, timeout: float | None = None) -> ServerFrame | None:
        """The next whole server frame; None at the end of the connection."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            parsed = self._parse_one()
            if parsed is not None:
                return parsed
            data = self._recv(deadline)
            if not data:
                assert self.buffer == b"", f"the connection ended inside a frame: {self.buffer!r}"
                return None
            self.buffer += data

    def _parse_one(self) -> ServerFrame | None:
        data = self.buffer
        if len(data) < 2:
            return None
        length, position = data[1] & 0x7F, 2
        if length == 126:
            if len(data) < 4:
                return None
            length, position = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                return None
            length, position = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < position + length:
            return None
        [parsed] = server_frames(data[:position + length])
        self.buffer = data[position + length:]
        return parsed

    def read_until_close(self, timeout: float | None = None) -> tuple[list[ServerFrame], ServerFrame]:
        """Frames up to and including the server's close frame."""
        before = []
        while True:
            parsed = self.read_frame(timeout)
            assert parsed is not None, f"the connection ended without a close frame after {before}"
            if parsed.opcode == CLOSE:
                return before, parsed
            before.append(parsed)

    def at_eof(self, timeout: float | None = None) -> bool:
        """True once the server closes the connection (nothing more may come)."""
        parsed = self.read_frame(timeout)
        assert parsed is None, f"unexpected frame {parsed}"
        return True

    def close(self) -> None:
        self.sock.close()
