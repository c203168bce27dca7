"""permessage-deflate (RFC 7692), server side, with the stdlib's zlib.

`negotiate_deflate(offers, settings)` picks the first acceptable
`permessage-deflate` offer of a handshake and returns the agreed
`DeflateParameters` (whose `header_value()` goes in the 101 response), or
`None` when no offer is acceptable: the connection then runs uncompressed,
which is not an error. An offer is refused when a parameter is unknown,
repeated or has an invalid value, and when it limits the server's window to
8 bits, which zlib cannot compress with (RFC 7692 7.1.2.1 lets a server
decline an offer it cannot honour).

`MessageDeflater(parameters)` compresses outgoing messages and inflates
incoming ones piece by piece. Inflating is bounded: each call is told how
many more bytes the message may grow by and never produces more, so a
compression bomb costs a `MessageTooBig` (1009), not the memory it asks for.
Its zlib streams are made when first needed: an idle connection, or one
that only ever sends, holds no compression memory it does not use.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from .ws_errors import InvalidPayload, MessageTooBig
from .ws_handshake import ExtensionOffer

__all__ = ["EXTENSION_NAME", "DeflateParameters", "DeflateSettings", "MessageDeflater",
           "negotiate_deflate"]

EXTENSION_NAME = "permessage-deflate"
# RFC 7692 7.2.1: a message's compressed data ends with this empty stored
# block, removed on the wire and put back before inflating.
_TAIL = b"\x00\x00\xff\xff"
_WINDOW_BITS = re.compile(r"[1-9][0-9]?")
_PARAMETER_NAMES = frozenset({
    "server_no_context_takeover", "client_no_context_takeover",
    "server_max_window_bits", "client_max_window_bits",
})
# zlib refuses to compress with an 8-bit window (raw deflate).
_MIN_COMPRESS_WINDOW_BITS = 9


@dataclass(frozen=True, slots=True)
class DeflateSettings:
    """What the server asks for beyond what the client offers.

    Smaller windows and no context takeover trade compression for memory
    per connection (a window of 2**bits bytes each way, kept between
    messages when the context is taken over); so does zlib's `memory_level`
    (the compressor's state is about 2**(bits + 2) + 2**(level + 9) bytes).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15  # 9-15
    client_max_window_bits: int = 15  # 8-15; asked only if the client allows it
    compression_level: int = 6
    memory_level: int = 8  # 1-9

    def __post_init__(self) -> None:
        if not _MIN_COMPRESS_WINDOW_BITS <= self.server_max_window_bits <= 15:
            raise ValueError("server_max_window_bits must be between 9 and 15")
        if not 8 <= self.client_max_window_bits <= 15:
            raise ValueError("client_max_window_bits must be between 8 and 15")
        if not 1 <= self.memory_level <= 9:
            raise ValueError("memory_level must be between 1 and 9")


@dataclass(frozen=True, slots=True)
class DeflateParameters:
    """The agreed parameters, and which of them the response states."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15
    # Window sizes are stated when offered or lowered; 15 otherwise goes unsaid.
    state_server_max_window_bits: bool = False
    state_client_max_window_bits: bool = False
    compression_level: int = 6
    memory_level: int = 8

    def header_value(self) -> str:
        """The `Sec-WebSocket-Extensions` value of the 101 response."""
        parts = [EXTENSION_NAME]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.state_server_max_window_bits:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.state_client_max_window_bits:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)


def negotiate_deflate(offers: Iterable[ExtensionOffer],
                      settings: DeflateSettings = DeflateSettings()) -> DeflateParameters | None:
    """The parameters of the first acceptable permessage-deflate offer."""
    for offer in offers:
        if offer.name.lower() == EXTENSION_NAME:
            parameters = _accept(offer, settings)
            if parameters is not None:
                return parameters
    return None


def _accept(offer: ExtensionOffer, settings: DeflateSettings) -> DeflateParameters | None:
    params: dict[str, str | None] = {}
    for name, value in offer.params:
        name = name.lower()
        if name not in _PARAMETER_NAMES or name in params:
            return None
        params[name] = value
    if (params.get("server_no_context_takeover") is not None
            or params.get("client_no_context_takeover") is not None):
        return None  # these flags take no value

    server_bits = settings.server_max_window_bits
    state_server_bits = server_bits < 15
    if "server_max_window_bits" in params:
        offered = _window_bits(params["server_max_window_bits"])
        if offered is None:
            return None
        server_bits = min(server_bits, offered)
        if server_bits < _MIN_COMPRESS_WINDOW_BITS:
            return None
        state_server_bits = True  # 7.1.2.1: an offered limit is answered

    client_bits = 15
    state_client_bits = False
    if "client_max_window_bits" in params:
        value = params["client_max_window_bits"]
        if value is not None:
            offered = _window_bits(value)
            if offered is None:
                return None
            client_bits = offered
        if settings.client_max_window_bits < client_bits:
            client_bits = settings.client_max_window_bits
            state_client_bits = True

    return DeflateParameters(
        server_no_context_takeover=(settings.server_no_context_takeover
                                    or "server_no_context_takeover" in params),
        client_no_context_takeover=(settings.client_no_context_takeover
                                    or "client_no_context_takeover" in params),
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
        state_server_max_window_bits=state_server_bits,
        state_client_max_window_bits=state_client_bits,
        compression_level=settings.compression_level,
        memory_level=settings.memory_level,
    )


def _window_bits(value: str | None) -> int | None:
    """8-15 written without leading zeros (RFC 7692 7.1.2), else None."""
    if value is None or _WINDOW_BITS.fullmatch(value) is None:
        return None
    bits = int(value)
    return bits if 8 <= bits <= 15 else None


class MessageDeflater:
    """Compression state of one connection's server side."""

    __slots__ = ("parameters", "_compressor", "_decompressor")

    def __init__(self, parameters: DeflateParameters) -> None:
        self.parameters = parameters
        self._compressor = None
        self._decompressor = None

    def _new_compressor(self):
        parameters = self.parameters
        return zlib.compressobj(parameters.compression_level, zlib.DEFLATED,
                                -parameters.server_max_window_bits, parameters.memory_level)

    def _new_decompressor(self):
        # A window at least as large as the client's inflates its data;
        # zlib's raw inflate wants 9 bits or more.
        return zlib.decompressobj(-max(self.parameters.client_max_window_bits,
                                       _MIN_COMPRESS_WINDOW_BITS))

    def compress(self, payload: bytes) -> bytes:
        """The payload of one outgoing message, compressed."""
        compressor = self._compressor
        if compressor is None or self.parameters.server_no_context_takeover:
            compressor = self._compressor = self._new_compressor()
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return data[:-4] if data.endswith(_TAIL) else data

    def decompress(self, data: bytes, room: int) -> bytes:
        """Inflate a piece of an incoming message that may still grow by
        `room` bytes; past it, `MessageTooBig`."""
        decompressor = self._decompressor
        if decompressor is None:
            decompressor = self._decompressor = self._new_decompressor()
        try:
            inflated = decompressor.decompress(data, room + 1)
        except zlib.error as exc:
            raise InvalidPayload(f"compressed data does not inflate: {exc}") from None
        if len(inflated) > room:
            raise MessageTooBig("message over the size limit once inflated")
        if decompressor.unused_data:
            raise InvalidPayload("data after the end of the compressed stream")
        return inflated

    def end_message(self, room: int) -> bytes:
        """The last inflated bytes of a message, once its final frame ended."""
        # A client may end its stream with a final block (BFINAL) instead.
        ended = self._decompressor is not None and self._decompressor.eof
        inflated = b"" if ended else self.decompress(_TAIL, room)
        if self.parameters.client_no_context_takeover or self._decompressor.eof:
            self._decompressor = None  # a fresh one for the next message
        return inflated
