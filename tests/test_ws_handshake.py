"""The opening handshake: what makes an upgrade request valid, what the 101
says, and the Origin allow-list. Requests are parsed by the real HTTP parser
first, so the headers arrive as the engine will hand them over."""

from __future__ import annotations

import pytest

from zerodep_http.parser import RequestParser
from zerodep_http.ws_handshake import (
    ExtensionOffer, HandshakeError, UnsupportedVersion, accept_headers, accept_key,
    is_upgrade_request, origin_allowed, parse_extensions, parse_upgrade_request)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="   # RFC 6455 1.3's example
VALID_FIELDS = {
    "Host": "example.com",
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": KEY,
    "Sec-WebSocket-Version": "13",
}


def request(*, line: str = "GET /chat HTTP/1.1", drop: tuple[str, ...] = (),
            extra: tuple[tuple[str, str], ...] = (), **replace: str):
    """Parse a handshake request whose fields differ from a valid one as told."""
    fields = dict(VALID_FIELDS)
    for name in drop:
        del fields[name]
    for name, value in replace.items():
        fields[name.replace("_", "-")] = value
    lines = [line, *(f"{name}: {value}" for name, value in fields.items()),
             *(f"{name}: {value}" for name, value in extra)]
    parser = RequestParser()
    parser.feed(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    method, _, version, headers, *_ = parser.next_event()  # a RequestHead
    return method, version, headers


def test_rfc_example_accept_key() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_valid_request() -> None:
    upgrade = parse_upgrade_request(*request())
    assert upgrade.key == KEY
    assert upgrade.subprotocols == ()
    assert upgrade.extensions == ()
    assert upgrade.origin is None


@pytest.mark.parametrize("fields", [
    dict(Upgrade="WebSocket"),
    dict(Upgrade="h2c, websocket"),
    dict(Connection="keep-alive, Upgrade"),
    dict(Connection="UPGRADE"),
    dict(Connection="upgrade,,keep-alive"),
    dict(Sec_WebSocket_Version=" 13 "),
    dict(Sec_WebSocket_Key="AAAAAAAAAAAAAAAAAAAAAA=="),
], ids=lambda fields: repr(fields))
def test_valid_variants(fields) -> None:
    assert parse_upgrade_request(*request(**fields)).key


INVALID = {
    "post": (dict(line="POST /chat HTTP/1.1"), 400),
    "http10": (dict(line="GET /chat HTTP/1.0"), 400),
    "no-upgrade": (dict(drop=("Upgrade",)), 400),
    "upgrade-to-something-else": (dict(Upgrade="h2c"), 400),
    "upgrade-websocket-as-a-substring": (dict(Upgrade="websocketx"), 400),
    "no-connection": (dict(drop=("Connection",)), 400),
    "connection-without-upgrade": (dict(Connection="keep-alive"), 400),
    "connection-upgrade-as-a-substring": (dict(Connection="upgraded"), 400),
    "no-key": (dict(drop=("Sec-WebSocket-Key",)), 400),
    "key-not-base64": (dict(Sec_WebSocket_Key="not base64 at all!!!!!!!"), 400),
    "key-of-15-bytes": (dict(Sec_WebSocket_Key="AAAAAAAAAAAAAAAAAAAA"), 400),
    "key-of-17-bytes": (dict(Sec_WebSocket_Key="AAAAAAAAAAAAAAAAAAAAAAA="), 400),
    "key-without-padding": (dict(Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ"), 400),
    "key-repeated": (dict(extra=(("Sec-WebSocket-Key", KEY),)), 400),
    "key-non-ascii": (dict(Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ\xe9="), 400),
    "no-version": (dict(drop=("Sec-WebSocket-Version",)), 426),
    "version-8": (dict(Sec_WebSocket_Version="8"), 426),
    "version-list": (dict(Sec_WebSocket_Version="13, 8"), 426),
    "bad-subprotocol": (dict(Sec_WebSocket_Protocol="chat, super chat"), 400),
    "bad-extensions": (dict(Sec_WebSocket_Extensions="permessage-deflate;"), 400),
}


@pytest.mark.parametrize("fields, status", INVALID.values(), ids=INVALID.keys())
def test_invalid_request(fields, status) -> None:
    fields = dict(fields)
    kwargs = {key: fields.pop(key) for key in ("line", "drop", "extra") if key in fields}
    with pytest.raises(HandshakeError) as error:
        parse_upgrade_request(*request(**kwargs, **fields))
    assert error.value.status == status
    if status == 426:
        assert isinstance(error.value, UnsupportedVersion)
        assert error.value.headers == [("Sec-WebSocket-Version", "13")]
    else:
        assert error.value.headers == []


def test_is_upgrade_request_only_looks_at_upgrade() -> None:
    assert is_upgrade_request({"upgrade": "WebSocket"})
    assert is_upgrade_request({"upgrade": "websocket", "connection": "close"})
    assert not is_upgrade_request({"upgrade": "h2c"})
    assert not is_upgrade_request({})


def test_subprotocols_and_origin() -> None:
    upgrade = parse_upgrade_request(*request(
        Sec_WebSocket_Protocol="chat, , superchat", extra=(("Sec-WebSocket-Protocol", "v2"),),
        Origin="https://example.com"))
    assert upgrade.subprotocols == ("chat", "superchat", "v2")
    assert upgrade.origin == "https://example.com"


EXTENSIONS = {
    "": [],
    "permessage-deflate": [ExtensionOffer("permessage-deflate")],
    "permessage-deflate; client_max_window_bits, permessage-deflate":
        [ExtensionOffer("permessage-deflate", (("client_max_window_bits", None),)),
         ExtensionOffer("permessage-deflate")],
    'foo ; a=1 ;b="two" ;c , , bar': [
        ExtensionOffer("foo", (("a", "1"), ("b", "two"), ("c", None))), ExtensionOffer("bar")],
    'x; y="\\1\\0"': [ExtensionOffer("x", (("y", "10"),))],
    "x;y = 5": [ExtensionOffer("x", (("y", "5"),))],
}


@pytest.mark.parametrize("value, offers", EXTENSIONS.items(), ids=list(EXTENSIONS))
def test_parse_extensions(value, offers) -> None:
    assert parse_extensions(value) == offers


@pytest.mark.parametrize("value", [
    "permessage-deflate;", "a b", "a;b=", 'a;b="not a token"', 'a;b="unterminated', "a;=1",
    "a;b=c d", ";a", "a,;", 'a;b="x"y',
])
def test_malformed_extensions(value) -> None:
    with pytest.raises(HandshakeError) as error:
        parse_extensions(value)
    assert error.value.status == 400


def test_accept_headers() -> None:
    upgrade = parse_upgrade_request(*request(Sec_WebSocket_Protocol="chat, superchat"))
    assert accept_headers(upgrade) == [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")]
    assert accept_headers(upgrade, "superchat", [("X-Served-By", "zerodep")],
                          "permessage-deflate") == [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ("Sec-WebSocket-Protocol", "superchat"),
        ("Sec-WebSocket-Extensions", "permessage-deflate"), ("X-Served-By", "zerodep")]


def test_accept_headers_refuses_an_unoffered_subprotocol() -> None:
    upgrade = parse_upgrade_request(*request(Sec_WebSocket_Protocol="chat"))
    with pytest.raises(ValueError, match="did not offer"):
        accept_headers(upgrade, "superchat")


@pytest.mark.parametrize("name", ["sec-websocket-accept", "Connection", "Upgrade",
                                  "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"])
def test_accept_headers_keeps_the_handshake_fields(name) -> None:
    upgrade = parse_upgrade_request(*request())
    with pytest.raises(ValueError, match="handshake"):
        accept_headers(upgrade, extra_headers=[(name, "x")])


@pytest.mark.parametrize("origin, allowed, expected", [
    (None, [], True),
    (None, ["https://example.com"], True),
    ("https://example.com", ["https://example.com"], True),
    ("HTTPS://Example.COM", ["https://example.com/"], True),
    ("https://example.com:8443", ["https://example.com:8443"], True),
    ("https://evil.example", ["https://example.com"], False),
    ("https://example.com.evil", ["https://example.com"], False),
    ("http://example.com", ["https://example.com"], False),
    ("null", ["https://example.com"], False),
    ("https://example.com", [], False),
])
def test_origin_allowed(origin, allowed, expected) -> None:
    assert origin_allowed(origin, allowed) is expected
