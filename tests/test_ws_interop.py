"""Interoperability with WebSocket clients nobody here wrote, without a server.

wsproto's client `WSConnection` and websockets' sans-I/O `ClientProtocol` are
strict peers: their handshake requests go through our HTTP parser and our
handshake checks, our 101 must satisfy them, their frames (masked,
fragmented, compressed with permessage-deflate under each parameter) must
give our events, and what our side emits must parse on theirs, close
handshakes and failures included.
"""

from __future__ import annotations

import pytest
import wsproto
import wsproto.events as wsp
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode as WsOpcode
from websockets.http11 import Response as WsResponse
from websockets.protocol import State as WsState
from websockets.uri import parse_uri
from wsproto.extensions import PerMessageDeflate

from zerodep_http.parser import RequestParser
from zerodep_http.ws_deflate import DeflateSettings, negotiate_deflate
from zerodep_http.ws_handshake import accept_headers, parse_upgrade_request
from zerodep_http.ws_protocol import (
    BinaryMessage, Close, ConnectionState, Ping, Pong, TextMessage, WebSocketConnection)

ORIGIN = "https://example.com"


class WsprotoClient:
    """wsproto's client; its events normalized to tuples."""

    name = "wsproto"

    def __init__(self, subprotocols, deflate) -> None:
        self.connection = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        self.subprotocols = list(subprotocols)
        self.extensions = [PerMessageDeflate(**deflate)] if deflate is not None else []
        self.replies = b""
        self.partial: list = []

    def request(self) -> bytes:
        return self.connection.send(wsp.Request(
            host="example.com", target="/chat", subprotocols=self.subprotocols,
            extensions=self.extensions, extra_headers=[(b"Origin", ORIGIN.encode())]))

    def accept(self, response: bytes) -> tuple[str | None, str | None]:
        """(subprotocol, extension name) the client agreed to."""
        self.connection.receive_data(response)
        [event] = self.connection.events()
        assert isinstance(event, wsp.AcceptConnection), event
        return event.subprotocol, event.extensions[0].name if event.extensions else None

    def _send_message(self, event_class, pieces: list) -> bytes:
        last = len(pieces) - 1
        return b"".join(self.connection.send(event_class(piece, message_finished=index == last))
                        for index, piece in enumerate(pieces))

    def send_text(self, pieces: list[str]) -> bytes:
        return self._send_message(wsp.TextMessage, pieces)

    def send_binary(self, pieces: list[bytes]) -> bytes:
        return self._send_message(wsp.BytesMessage, pieces)

    def send_ping(self, payload: bytes) -> bytes:
        return self.connection.send(wsp.Ping(payload))

    def send_close(self, code: int, reason: str) -> bytes:
        return self.connection.send(wsp.CloseConnection(code, reason))

    def receive(self, data: bytes) -> list[tuple]:
        """Events as tuples; the answers wsproto leaves to its user (pong,
        close reply) are queued in `replies`."""
        self.connection.receive_data(data)
        received = []
        for event in self.connection.events():
            if isinstance(event, wsp.Message):
                self.partial.append(event.data)
                if event.message_finished:
                    kind = "text" if isinstance(event, wsp.TextMessage) else "binary"
                    joined = ("" if kind == "text" else b"").join(self.partial)
                    received.append((kind, joined))
                    self.partial = []
            elif isinstance(event, wsp.Ping):
                received.append(("ping", event.payload))
                self.replies += self.connection.send(event.response())
            elif isinstance(event, wsp.Pong):
                received.append(("pong", event.payload))
            elif isinstance(event, wsp.CloseConnection):
                received.append(("close", event.code, event.reason))
                if self.connection.state is wsproto.connection.ConnectionState.REMOTE_CLOSING:
                    self.replies += self.connection.send(event.response())
            else:
                raise AssertionError(f"unexpected event {event!r}")
        return received

    def closed(self) -> bool:
        return self.connection.state is wsproto.connection.ConnectionState.CLOSED


class WebsocketsClient:
    """websockets' sans-I/O client; frames assembled into messages."""

    name = "websockets"

    def __init__(self, subprotocols, deflate) -> None:
        extensions = [ClientPerMessageDeflateFactory(**deflate)] if deflate is not None else None
        self.protocol = ClientProtocol(
            parse_uri("ws://example.com/chat"), origin=ORIGIN, extensions=extensions,
            subprotocols=list(subprotocols) or None, max_size=None)
        self.replies = b""
        self.partial: list[bytes] = []
        self.partial_opcode = None

    def _flush(self) -> bytes:
        return b"".join(self.protocol.data_to_send())

    def request(self) -> bytes:
        self.protocol.send_request(self.protocol.connect())
        return self._flush()

    def accept(self, response: bytes) -> tuple[str | None, str | None]:
        """(subprotocol, extension name) the client agreed to."""
        self.protocol.receive_data(response)
        [event] = self.protocol.events_received()
        assert isinstance(event, WsResponse) and event.status_code == 101
        assert self.protocol.handshake_exc is None, self.protocol.handshake_exc
        assert self.protocol.state is WsState.OPEN
        extension = self.protocol.extensions[0].name if self.protocol.extensions else None
        return event.headers.get("Sec-WebSocket-Protocol"), extension

    def send_text(self, pieces: list[str | bytes]) -> bytes:
        for index, piece in enumerate(pieces):
            data = piece.encode() if isinstance(piece, str) else piece
            send = self.protocol.send_text if index == 0 else self.protocol.send_continuation
            send(data, fin=index == len(pieces) - 1)
        return self._flush()

    def send_binary(self, pieces: list[bytes]) -> bytes:
        for index, piece in enumerate(pieces):
            send = self.protocol.send_binary if index == 0 else self.protocol.send_continuation
            send(piece, fin=index == len(pieces) - 1)
        return self._flush()

    def send_ping(self, payload: bytes) -> bytes:
        self.protocol.send_ping(payload)
        return self._flush()

    def send_close(self, code: int, reason: str) -> bytes:
        self.protocol.send_close(code, reason)
        return self._flush()

    def receive(self, data: bytes) -> list[tuple]:
        """Events as tuples; websockets answers pings and closes by itself."""
        self.protocol.receive_data(data)
        received = []
        for frame in self.protocol.events_received():
            opcode = frame.opcode
            if opcode in (WsOpcode.TEXT, WsOpcode.BINARY, WsOpcode.CONT):
                if opcode != WsOpcode.CONT:
                    self.partial_opcode = opcode
                self.partial.append(frame.data)
                if frame.fin:
                    joined = b"".join(self.partial)
                    if self.partial_opcode == WsOpcode.TEXT:
                        received.append(("text", joined.decode("utf-8")))
                    else:
                        received.append(("binary", joined))
                    self.partial = []
            elif opcode == WsOpcode.PING:
                received.append(("ping", frame.data))
            elif opcode == WsOpcode.PONG:
                received.append(("pong", frame.data))
            else:
                close = self.protocol.close_rcvd
                received.append(("close", close.code, close.reason))
        self.replies += self._flush()
        return received

    def closed(self) -> bool:
        # websockets waits for the server to end TCP; both close frames count.
        return self.protocol.close_rcvd is not None and self.protocol.close_sent is not None


CLIENTS = [WsprotoClient, WebsocketsClient]
# Client-side deflate configurations, each library in its own words.
DEFLATE_OFFERS = {
    "none": (None, None),
    "default": ({}, {}),
    "client-no-context-takeover": ({"client_no_context_takeover": True},
                                   {"client_no_context_takeover": True}),
    "server-no-context-takeover": ({"server_no_context_takeover": True},
                                   {"server_no_context_takeover": True}),
    "server-window-10": ({"server_max_window_bits": 10}, {"server_max_window_bits": 10}),
    "client-window-9": ({"client_max_window_bits": 9}, {"client_max_window_bits": 9}),
}


def handshake(client, subprotocol=None, settings: DeflateSettings = DeflateSettings(),
              max_message_size: int = 1 << 20):
    """Their request through our parser and checks; our 101 to them."""
    parser = RequestParser()
    parser.feed(client.request())
    method, _, version, headers, *_ = parser.next_event()  # a RequestHead
    upgrade = parse_upgrade_request(method, version, headers)
    assert upgrade.origin == ORIGIN
    parameters = negotiate_deflate(upgrade.extensions, settings)
    headers = accept_headers(upgrade, subprotocol, [("Server", "zerodep-http")],
                             parameters.header_value() if parameters else None)
    response = "HTTP/1.1 101 Switching Protocols\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    chosen, extension = client.accept(response.encode("latin-1"))
    assert chosen == subprotocol
    server = WebSocketConnection(max_message_size=max_message_size, deflate=parameters)
    return server, parameters, extension


def client_for(client_class, offer: str, subprotocols=()):
    wsproto_deflate, websockets_deflate = DEFLATE_OFFERS[offer]
    deflate = wsproto_deflate if client_class is WsprotoClient else websockets_deflate
    return client_class(subprotocols, deflate)


def events_of(server: WebSocketConnection, data: bytes) -> list:
    server.receive_data(data)
    return list(server.events())


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda cls: cls.name)
@pytest.mark.parametrize("offer", DEFLATE_OFFERS)
def test_messages_both_ways(client_class, offer) -> None:
    client = client_for(client_class, offer, subprotocols=["chat.v1", "chat.v2"])
    server, parameters, extension = handshake(client, subprotocol="chat.v2")
    assert (parameters is None) == (offer == "none")
    assert extension == (None if parameters is None else "permessage-deflate")

    text = "κόσμε, wörld 🌍 " * 300
    blob = bytes(range(256)) * 200
    # Twice each, so that context takeover (or its absence) matters.
    for _ in range(2):
        assert events_of(server, client.send_text(["héllo"])) == [TextMessage("héllo")]
        assert events_of(server, client.send_text([text[:1000], text[1000:2001], text[2001:]])) \
            == [TextMessage(text)]
        assert events_of(server, client.send_binary([blob[:7], b"", blob[7:]])) \
            == [BinaryMessage(blob)]
        assert events_of(server, client.send_binary([b""])) == [BinaryMessage(b"")]
        server.send_text(text)
        server.send_binary(blob)
        server.send_text("")
        assert client.receive(server.data_to_send()) == [
            ("text", text), ("binary", blob), ("text", "")]


@pytest.mark.parametrize("client_class", [WebsocketsClient], ids=lambda cls: cls.name)
@pytest.mark.parametrize("offer", ["none", "default"])
def test_text_fragmented_inside_a_character(client_class, offer) -> None:
    client = client_for(client_class, offer)
    server, _, _ = handshake(client)
    data = "🌍é".encode()
    pieces = [data[:1], data[1:3], data[3:5], data[5:]]
    assert events_of(server, client.send_text(pieces)) == [TextMessage("🌍é")]


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda cls: cls.name)
def test_server_settings_accepted_by_the_client(client_class) -> None:
    """The parameters the server adds on its own (no context takeover,
    smaller windows) are understood and honoured by the client."""
    client = client_for(client_class, "default")
    settings = DeflateSettings(server_no_context_takeover=True, client_no_context_takeover=True,
                               server_max_window_bits=11, client_max_window_bits=10)
    server, parameters, _ = handshake(client, settings=settings)
    assert parameters.server_max_window_bits == 11
    assert parameters.client_no_context_takeover
    message = "the same words again and again " * 100
    for _ in range(3):
        assert events_of(server, client.send_text([message])) == [TextMessage(message)]
        server.send_text(message)
        assert client.receive(server.data_to_send()) == [("text", message)]


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda cls: cls.name)
@pytest.mark.parametrize("offer", ["none", "default"])
def test_pings_both_ways(client_class, offer) -> None:
    client = client_for(client_class, offer)
    server, _, _ = handshake(client)
    assert events_of(server, client.send_ping(b"client ping")) == [Ping(b"client ping")]
    # Our automatic pong, between two messages.
    server.send_text("after the pong")
    assert client.receive(server.data_to_send()) == [
        ("pong", b"client ping"), ("text", "after the pong")]
    server.send_ping(b"server ping")
    assert client.receive(server.data_to_send()) == [("ping", b"server ping")]
    assert events_of(server, client.replies) == [Pong(b"server ping")]


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda cls: cls.name)
def test_client_initiated_close(client_class) -> None:
    client = client_for(client_class, "default")
    server, _, _ = handshake(client)
    assert events_of(server, client.send_close(1000, "done")) == [Close(1000, "done")]
    assert server.state is ConnectionState.CLOSED
    assert client.receive(server.data_to_send()) == [("close", 1000, "")]
    assert client.closed()


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda cls: cls.name)
def test_server_initiated_close(client_class) -> None:
    client = client_for(client_class, "default")
    server, _, _ = handshake(client)
    server.send_text("last words")
    server.send_close(1001, "going away")
    assert client.receive(server.data_to_send()) == [
        ("text", "last words"), ("close", 1001, "going away")]
    assert events_of(server, client.replies) == [Close(1001, "going away")]  # both echo it
    assert server.state is ConnectionState.CLOSED
    assert client.closed()


@pytest.mark.parametrize("client_class", CLIENTS, ids=lambda cls: cls.name)
def test_message_over_the_limit_closes_with_1009(client_class) -> None:
    client = client_for(client_class, "default")
    server, _, _ = handshake(client, max_message_size=1000)
    server.receive_data(client.send_binary([bytes(range(256)) * 8]))
    with pytest.raises(Exception) as error:
        server.next_event()
    assert getattr(error.value, "code", None) == 1009
    [event] = client.receive(server.data_to_send())
    assert event[:2] == ("close", 1009)


def test_invalid_utf8_from_a_raw_frame_closes_with_1007() -> None:
    """websockets can send any frame; ours answers bad text with 1007."""
    client = client_for(WebsocketsClient, "none")
    server, _, _ = handshake(client)
    client.protocol.send_frame(Frame(WsOpcode.TEXT, b"ok \xed\xa0\x80"))
    server.receive_data(b"".join(client.protocol.data_to_send()))
    with pytest.raises(Exception) as error:
        server.next_event()
    assert getattr(error.value, "code", None) == 1007
    [event] = client.receive(server.data_to_send())
    assert event[:2] == ("close", 1007)
