"""The connection's API beyond the conformance table: what it sends, the
states of the close handshake, and what is refused to the caller."""

from __future__ import annotations

import struct
import zlib

import pytest

from ws_support import (
    BINARY, CLOSE, PING, PONG, TEXT, binary, close, drive, ping, server_frames, text)
from zerodep_http.ws_deflate import DeflateParameters
from zerodep_http.ws_errors import CloseCode, ProtocolViolation
from zerodep_http.ws_protocol import (
    BinaryMessage, Close, ConnectionClosed, ConnectionState, Ping, TextMessage,
    WebSocketConnection)


@pytest.mark.parametrize("size, header", [
    (0, b"\x82\x00"), (125, b"\x82\x7d"), (126, b"\x82\x7e\x00\x7e"),
    (65535, b"\x82\x7e\xff\xff"), (65536, b"\x82\x7f" + struct.pack("!Q", 65536))])
def test_outgoing_length_encodings(size, header) -> None:
    connection = WebSocketConnection()
    connection.send_binary(b"\xab" * size)
    assert connection.data_to_send() == header + b"\xab" * size


def test_outgoing_frames_are_final_unmasked_and_in_order() -> None:
    connection = WebSocketConnection()
    connection.send_text("héllo")
    connection.send_ping(b"are you there")
    connection.send_pong(b"heartbeat")
    connection.send_binary(bytearray(b"\x00\x01"))
    frames = server_frames(connection.data_to_send())
    assert [(item.fin, item.rsv, item.opcode, item.payload) for item in frames] == [
        (True, 0, TEXT, "héllo".encode()), (True, 0, PING, b"are you there"),
        (True, 0, PONG, b"heartbeat"), (True, 0, BINARY, b"\x00\x01")]
    assert connection.data_to_send() == b""


def test_outgoing_compression_sets_rsv1_on_data_frames_only() -> None:
    connection = WebSocketConnection(deflate=DeflateParameters())
    connection.send_text("compress me " * 10)
    connection.send_ping(b"plain")
    message, control = server_frames(connection.data_to_send())
    assert (message.rsv, message.opcode) == (4, TEXT)
    inflated = zlib.decompressobj(-15).decompress(message.payload + b"\x00\x00\xff\xff")
    assert inflated == ("compress me " * 10).encode()
    assert (control.rsv, control.payload) == (0, b"plain")


def test_control_payload_limit_for_the_caller() -> None:
    connection = WebSocketConnection()
    connection.send_ping(b"x" * 125)
    with pytest.raises(ValueError):
        connection.send_ping(b"x" * 126)
    with pytest.raises(ValueError):
        connection.send_close(1000, "r" * 124)


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000])
def test_close_codes_the_caller_cannot_send(code) -> None:
    with pytest.raises(ValueError):
        WebSocketConnection().send_close(code)


def test_server_initiated_close_handshake() -> None:
    connection = WebSocketConnection()
    connection.send_close(CloseCode.GOING_AWAY, "restarting")
    assert connection.state is ConnectionState.CLOSING
    [sent] = server_frames(connection.data_to_send())
    assert (sent.opcode, sent.payload) == (CLOSE, b"\x03\xe9restarting")
    for send in (lambda: connection.send_text("late"), lambda: connection.send_ping(),
                 lambda: connection.send_close()):
        with pytest.raises(ConnectionClosed):
            send()
    # The peer may still be sending; its messages arrive, its pings go unanswered.
    outcome = drive(connection, [text("in flight"), ping(b"?"), close(1001)])
    assert outcome.events == [TextMessage("in flight"), Ping(b"?"), Close(1001)]
    assert outcome.sent == []
    assert connection.state is ConnectionState.CLOSED


def test_peer_initiated_close_is_echoed_once_and_ends_input() -> None:
    connection = WebSocketConnection()
    outcome = drive(connection, [close(4321, "bye"), text("ignored")])
    assert outcome.events == [Close(4321, "bye")]
    assert outcome.sent == [("close", 4321)]
    assert connection.state is ConnectionState.CLOSED
    with pytest.raises(ConnectionClosed):
        connection.send_text("too late")
    connection.receive_eof()
    assert connection.next_event() is None


def test_transport_end_after_our_close_is_1006() -> None:
    connection = WebSocketConnection()
    connection.send_close()
    connection.receive_eof()
    assert list(connection.events()) == [Close(1006)]
    assert connection.state is ConnectionState.CLOSED
    assert connection.next_event() is None


def test_violation_while_closing_sends_no_second_close() -> None:
    connection = WebSocketConnection()
    connection.send_close()
    connection.data_to_send()
    outcome = drive(connection, [text("x", mask=None)])
    assert outcome.error == 1002
    assert outcome.sent == []
    assert connection.state is ConnectionState.FAILED


def test_failure_close_frame_carries_the_reason() -> None:
    connection = WebSocketConnection()
    connection.receive_data(text("x", mask=None))
    with pytest.raises(ProtocolViolation) as error:
        connection.next_event()
    [sent] = server_frames(connection.data_to_send())
    assert sent.payload == b"\x03\xea" + error.value.reason.encode()
    assert error.value.code == 1002
    with pytest.raises(ConnectionClosed):
        connection.send_text("after failure")


def test_events_before_a_violation_come_out_first() -> None:
    connection = WebSocketConnection()
    connection.receive_data(binary(b"one") + ping(b"p") + bytes([0x83, 0x80]) + b"\x00" * 4)
    assert connection.next_event() == BinaryMessage(b"one")
    assert connection.next_event() == Ping(b"p")
    with pytest.raises(ProtocolViolation):
        connection.next_event()
    frames = server_frames(connection.data_to_send())
    assert [(item.opcode, item.payload[:2]) for item in frames] == [
        (PONG, b"p"), (CLOSE, b"\x03\xea")]


def test_max_message_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        WebSocketConnection(max_message_size=0)
