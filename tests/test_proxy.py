"""Trusted proxies: Forwarded / X-Forwarded-* headers and the PROXY protocol."""

from __future__ import annotations

import json
import socket
import struct

import pytest

from zerodep_http import App
from zerodep_http.config.values import IPAllowList
from zerodep_http.parser import BadRequest
from zerodep_http.proxy import forwarded_client, parse_proxy_header

LOOPBACK = IPAllowList.parse(["127.0.0.1", "::1"])
PROXIES = IPAllowList.parse(["10.0.0.0/8"])


@pytest.mark.parametrize("headers, expected", [
    ({"x-forwarded-for": "203.0.113.7"}, (("203.0.113.7", 0), None)),
    ({"x-forwarded-for": "203.0.113.7, 10.0.0.2", "x-forwarded-proto": "https"},
     (("203.0.113.7", 0), "https")),
    # A client may send its own X-Forwarded-For: only the rightmost
    # untrusted hop counts.
    ({"x-forwarded-for": "1.1.1.1, 203.0.113.7, 10.0.0.2"}, (("203.0.113.7", 0), None)),
    ({"x-forwarded-for": "10.0.0.3, 10.0.0.2"}, (("10.0.0.3", 0), None)),
    ({"x-forwarded-proto": "HTTPS"}, (None, "https")),
    ({"x-forwarded-proto": "gopher"}, (None, None)),
    ({"forwarded": "for=203.0.113.7;proto=https, for=10.0.0.2;proto=http"},
     (("203.0.113.7", 0), "https")),
    ({"forwarded": 'for="[2001:db8::1]:4711";proto=https'}, (("2001:db8::1", 4711), "https")),
    ({"forwarded": "for=203.0.113.7:8080", "x-forwarded-for": "198.51.100.1"},
     (("203.0.113.7", 8080), None)),
    ({"forwarded": "for=_hidden, for=10.0.0.2"}, (("10.0.0.2", 0), None)),
    ({"x-forwarded-for": "not-an-ip"}, (None, None)),
])
def test_forwarded_client(headers, expected):
    assert forwarded_client(headers, PROXIES) == expected


def proxy_v2(family: int, source: str, port: int, command: int = 1) -> bytes:
    if family == socket.AF_INET:
        addresses = socket.inet_pton(family, source) + socket.inet_pton(family, "10.0.0.1")
        family_byte = 0x11
    else:
        addresses = socket.inet_pton(family, source) + socket.inet_pton(family, "::1")
        family_byte = 0x21
    payload = addresses + struct.pack("!HH", port, 80)
    return (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20 | command, family_byte])
            + struct.pack("!H", len(payload)) + payload)


@pytest.mark.parametrize("header, expected", [
    (b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n", ("203.0.113.7", 56324)),
    (b"PROXY TCP6 2001:db8::1 ::1 56324 443\r\n", ("2001:db8::1", 56324)),
    (b"PROXY UNKNOWN\r\n", None),
    (proxy_v2(socket.AF_INET, "203.0.113.7", 56324), ("203.0.113.7", 56324)),
    (proxy_v2(socket.AF_INET6, "2001:db8::1", 56324), ("2001:db8::1", 56324)),
    (proxy_v2(socket.AF_INET, "203.0.113.7", 56324, command=0), None),
])
def test_proxy_header_whole_and_split(header, expected):
    data = header + b"GET / HTTP/1.1\r\n"
    assert parse_proxy_header(data) == (len(header), expected)
    for cut in range(len(header)):
        assert parse_proxy_header(header[:cut]) is None, cut


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\n",
    b"PROXY TCP4 203.0.113.7 10.0.0.1 56324\r\n",
    b"PROXY TCP4 999.0.113.7 10.0.0.1 56324 443\r\n",
    b"PROXY TCP4 203.0.113.7 10.0.0.1 99999 443\r\n",
    b"PROXY TCP4 203.0.113.7  10.0.0.1 1 2\r\n",
    b"PROXY TCP4 " + b"1" * 120,
    b"\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c" + b"\x00" * 12,  # version 3
])
def test_bad_proxy_headers_are_refused(data):
    with pytest.raises(BadRequest):
        parse_proxy_header(data)


def client_app() -> App:
    app = App()

    @app.get("/who")
    async def who(request):
        return {"client": list(request.client_addr), "scheme": request.scheme}

    return app


def test_forwarded_headers_from_a_trusted_peer(serve):
    server = serve(client_app())
    response = server.client().request("GET", "/who", headers=[
        ("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")])
    assert response.json() == {"client": ["203.0.113.7", 0], "scheme": "https"}


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(serve):
    server = serve(client_app(), forwarded_allow_ips="10.0.0.1")
    response = server.client().request("GET", "/who", headers=[
        ("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")])
    assert response.json()["client"][0] == "127.0.0.1"
    assert response.json()["scheme"] == "http"


@pytest.mark.parametrize("header", [
    b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n",
    proxy_v2(socket.AF_INET, "203.0.113.7", 56324),
], ids=["v1", "v2"])
def test_proxy_protocol_from_a_trusted_peer(serve, header):
    server = serve(client_app(), proxy_protocol=True)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(header[:7])  # the header may arrive in pieces
        sock.sendall(header[7:] + b"GET /who HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert json.loads(reply.partition(b"\r\n\r\n")[2]) == {
        "client": ["203.0.113.7", 56324], "scheme": "http"}


def test_missing_proxy_header_is_refused(serve):
    server = serve(client_app(), proxy_protocol=True)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /who HTTP/1.1\r\nHost: a\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")


def test_proxy_header_from_an_untrusted_peer_is_not_believed(serve):
    server = serve(client_app(), proxy_protocol=True, forwarded_allow_ips="10.0.0.1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n"
                     b"GET /who HTTP/1.1\r\nHost: a\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 ")
