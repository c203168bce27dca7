"""permessage-deflate: negotiating offers, context takeover, and bounded
inflation. The client side of each exchange is plain zlib, written in the
test (ws_support.ClientDeflater)."""

from __future__ import annotations

import tracemalloc
import zlib

import pytest

from ws_support import BINARY, ClientDeflater, server_frames
from zerodep_http.ws_deflate import (
    DeflateParameters, DeflateSettings, MessageDeflater, negotiate_deflate)
from zerodep_http.ws_errors import InvalidPayload, MessageTooBig
from zerodep_http.ws_handshake import parse_extensions
from zerodep_http.ws_protocol import BinaryMessage, WebSocketConnection

D = "permessage-deflate"
NEGOTIATION = {
    # offer -> response (None: declined, no extension)
    D: D,
    "PerMessage-Deflate": D,
    f"{D}; client_max_window_bits": D,
    f"{D}; client_max_window_bits=10": D,
    f"{D}; server_max_window_bits=10": f"{D}; server_max_window_bits=10",
    f"{D}; server_max_window_bits=15": f"{D}; server_max_window_bits=15",
    f'{D}; server_max_window_bits="12"': f"{D}; server_max_window_bits=12",
    f"{D}; server_no_context_takeover": f"{D}; server_no_context_takeover",
    f"{D}; client_no_context_takeover": f"{D}; client_no_context_takeover",
    f"{D}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9":
        f"{D}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
    # zlib cannot compress with an 8-bit window: that offer is declined.
    f"{D}; server_max_window_bits=8": None,
    f"{D}; server_max_window_bits=8, {D}; server_max_window_bits=9":
        f"{D}; server_max_window_bits=9",
    # Invalid offers are declined, and the next acceptable one is taken.
    f"{D}; unknown_parameter": None,
    f"{D}; server_no_context_takeover; server_no_context_takeover": None,
    f"{D}; server_no_context_takeover=1": None,
    f"{D}; client_no_context_takeover=yes": None,
    f"{D}; server_max_window_bits": None,
    f"{D}; server_max_window_bits=7": None,
    f"{D}; server_max_window_bits=16": None,
    f"{D}; server_max_window_bits=010": None,
    f"{D}; client_max_window_bits=0": None,
    f"{D}; client_max_window_bits=99": None,
    f"{D}; x, {D}; client_no_context_takeover": f"{D}; client_no_context_takeover",
    "x-webkit-deflate-frame": None,
    f"x-webkit-deflate-frame, {D}": D,
}


@pytest.mark.parametrize("offer, response", NEGOTIATION.items(), ids=list(NEGOTIATION))
def test_negotiation(offer, response) -> None:
    parameters = negotiate_deflate(parse_extensions(offer))
    assert (parameters.header_value() if parameters else None) == response


@pytest.mark.parametrize("settings, offer, response", [
    (DeflateSettings(server_no_context_takeover=True), D, f"{D}; server_no_context_takeover"),
    (DeflateSettings(client_no_context_takeover=True), D, f"{D}; client_no_context_takeover"),
    (DeflateSettings(server_max_window_bits=11), D, f"{D}; server_max_window_bits=11"),
    (DeflateSettings(server_max_window_bits=11), f"{D}; server_max_window_bits=13",
     f"{D}; server_max_window_bits=11"),
    (DeflateSettings(server_max_window_bits=12), f"{D}; server_max_window_bits=10",
     f"{D}; server_max_window_bits=10"),
    # The client's window can only be limited when it says it can honour it.
    (DeflateSettings(client_max_window_bits=10), D, D),
    (DeflateSettings(client_max_window_bits=10), f"{D}; client_max_window_bits",
     f"{D}; client_max_window_bits=10"),
    (DeflateSettings(client_max_window_bits=10), f"{D}; client_max_window_bits=9", D),
    (DeflateSettings(client_max_window_bits=8), f"{D}; client_max_window_bits",
     f"{D}; client_max_window_bits=8"),
])
def test_server_settings(settings, offer, response) -> None:
    assert negotiate_deflate(parse_extensions(offer), settings).header_value() == response


@pytest.mark.parametrize("field, value", [
    ("server_max_window_bits", 8), ("server_max_window_bits", 16),
    ("client_max_window_bits", 7), ("client_max_window_bits", 16)])
def test_settings_out_of_range(field, value) -> None:
    with pytest.raises(ValueError):
        DeflateSettings(**{field: value})


def test_negotiated_parameters_drive_the_codec() -> None:
    parameters = negotiate_deflate(parse_extensions(
        f"{D}; server_no_context_takeover; server_max_window_bits=10"))
    assert parameters.server_no_context_takeover
    assert parameters.server_max_window_bits == 10
    assert not parameters.client_no_context_takeover
    assert parameters.client_max_window_bits == 15


REPEATED = b"The quick brown fox jumps over the lazy dog. " * 20


def _inflate_stream(pieces: list[bytes], no_context_takeover: bool) -> list[bytes]:
    decompressor = zlib.decompressobj(-15)
    messages = []
    for piece in pieces:
        if no_context_takeover:
            decompressor = zlib.decompressobj(-15)
        messages.append(decompressor.decompress(piece + b"\x00\x00\xff\xff"))
    return messages


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_outgoing_context_takeover(no_context_takeover) -> None:
    """With context takeover a repeated message refers back to the last one
    and shrinks; without it, every message stands alone."""
    deflater = MessageDeflater(DeflateParameters(server_no_context_takeover=no_context_takeover))
    first, second = deflater.compress(REPEATED), deflater.compress(REPEATED)
    if no_context_takeover:
        assert first == second
    else:
        assert len(second) < len(first) // 4
    assert _inflate_stream([first, second], no_context_takeover) == [REPEATED, REPEATED]


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_incoming_context_takeover(no_context_takeover) -> None:
    deflater = MessageDeflater(DeflateParameters(client_no_context_takeover=no_context_takeover))
    client = ClientDeflater(no_context_takeover=no_context_takeover)
    for _ in range(3):
        assert deflater.decompress(client.compress(REPEATED), 1 << 20) + deflater.end_message(
            1 << 20) == REPEATED


def test_client_ending_its_stream_with_a_final_block() -> None:
    """A client may finish a message's data with BFINAL; the next message
    then starts a new stream."""
    deflater = MessageDeflater(DeflateParameters())
    for message in (b"first message", b"second message"):
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = compressor.compress(message) + compressor.flush(zlib.Z_FINISH)
        assert deflater.decompress(data, 100) + deflater.end_message(100) == message


def test_outgoing_window_bits_are_honoured() -> None:
    """Data compressed with a 9-bit window inflates with a 9-bit window."""
    deflater = MessageDeflater(DeflateParameters(server_max_window_bits=9))
    payload = bytes(range(256)) * 64 + REPEATED
    data = deflater.compress(payload)
    assert zlib.decompressobj(-9).decompress(data + b"\x00\x00\xff\xff") == payload


def test_corrupt_data_is_invalid_payload() -> None:
    deflater = MessageDeflater(DeflateParameters())
    with pytest.raises(InvalidPayload) as error:
        deflater.decompress(b"\xff\xff\xff\xff", 100)
    assert error.value.code == 1007


def test_data_after_a_final_block_is_invalid() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = compressor.compress(b"done") + compressor.flush(zlib.Z_FINISH) + b"\x00garbage"
    with pytest.raises(InvalidPayload):
        MessageDeflater(DeflateParameters()).decompress(data, 100)


def test_a_bomb_is_1009_without_inflating_it() -> None:
    """1 GiB of zeros compresses to about 1 MiB; the connection fails on it
    after inflating little more than its limit."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(b"\x00" * (1 << 24))
    bomb = b"".join([block] * 64) + compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    deflate = negotiate_deflate(parse_extensions(D))
    connection = WebSocketConnection(max_message_size=1 << 20, deflate=deflate)
    header = bytes([0xC2, 0xFF]) + len(bomb).to_bytes(8, "big") + b"\x00\x00\x00\x00"
    tracemalloc.start()
    try:
        connection.receive_data(header)
        for start in range(0, len(bomb), 1 << 16):
            connection.receive_data(bomb[start:start + (1 << 16)])
            try:
                connection.next_event()
            except MessageTooBig:
                break
        else:
            raise AssertionError("the bomb was inflated")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert [frame.close_code for frame in server_frames(connection.data_to_send())] == [1009]


def test_a_message_right_at_the_limit_inflates() -> None:
    deflate = negotiate_deflate(parse_extensions(D))
    connection = WebSocketConnection(max_message_size=100_000, deflate=deflate)
    for frame_ in ClientDeflater().message(BINARY, b"\x00" * 100_000, 50):
        connection.receive_data(frame_)
    assert list(connection.events()) == [BinaryMessage(b"\x00" * 100_000)]
