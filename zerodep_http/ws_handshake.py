"""The WebSocket opening handshake (RFC 6455 section 4), server side, no I/O.

`parse_upgrade_request(method, http_version, headers)` checks a parsed
request (headers as `RequestParser` gives them: lower-case names, repeats
joined with ", ") and returns an `UpgradeRequest` holding the key, the
offered subprotocols and extensions and the Origin; a request that is not a
valid upgrade raises a `HandshakeError` whose `status` and `headers` are the
answer to send (426 with `Sec-WebSocket-Version: 13` for another version,
400 otherwise). `accept_headers(request, ...)` builds the header list of the
101 response once the application chose a subprotocol and the server
negotiated an extension. `origin_allowed(origin, allowed)` is the cross-site
check for browsers; a request without Origin (not a browser) passes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ExtensionOffer", "HandshakeError", "UnsupportedVersion", "UpgradeRequest",
    "accept_headers", "accept_key", "is_upgrade_request", "origin_allowed",
    "parse_extensions", "parse_upgrade_request",
]

# RFC 6455 1.3: the GUID every server appends to the client's key.
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SUPPORTED_VERSION = "13"

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TOKEN_RE = re.compile(_TOKEN)
_OWS = r"[ \t]*"
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*"'
_PARAMETER = re.compile(rf"{_OWS};{_OWS}({_TOKEN})(?:{_OWS}={_OWS}({_TOKEN}|{_QUOTED}))?")
_LIST_SEPARATOR = re.compile(rf"{_OWS}(?:,{_OWS})*")
_QUOTED_PAIR = re.compile(r"\\(.)")
# Headers of the 101 that the handshake owns; the application cannot set them.
_HANDSHAKE_FIELDS = frozenset({
    "upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol",
    "sec-websocket-extensions",
})


class HandshakeError(Exception):
    """An upgrade request the server refuses: answer `status` with `headers`."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.headers: list[tuple[str, str]] = []


class UnsupportedVersion(HandshakeError):
    """RFC 6455 4.4: tell the client which version the server speaks."""

    status = 426

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.headers = [("Sec-WebSocket-Version", SUPPORTED_VERSION)]


@dataclass(frozen=True, slots=True)
class ExtensionOffer:
    """One element of `Sec-WebSocket-Extensions`: a name and its parameters
    in order, a parameter without a value having `None` (quotes removed)."""

    name: str
    params: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class UpgradeRequest:
    key: str
    subprotocols: tuple[str, ...]
    extensions: tuple[ExtensionOffer, ...]
    origin: str | None


def _tokens(value: str | None) -> list[str]:
    """The elements of a comma-separated list header, empty ones skipped
    (RFC 9110 5.6.1 asks recipients to accept them)."""
    if value is None:
        return []
    return [element.strip(" \t") for element in value.split(",") if element.strip(" \t")]


def is_upgrade_request(headers: dict[str, str]) -> bool:
    """True when the client asks for a WebSocket, valid or not: the request
    then belongs to the handshake, which answers it even to refuse it."""
    return "websocket" in (token.lower() for token in _tokens(headers.get("upgrade")))


def parse_upgrade_request(method: str, http_version: str,
                          headers: dict[str, str]) -> UpgradeRequest:
    if method != "GET":
        raise HandshakeError("a WebSocket handshake must be a GET")
    if http_version != "1.1":
        raise HandshakeError("a WebSocket handshake needs HTTP/1.1")
    if not is_upgrade_request(headers):
        raise HandshakeError("Upgrade does not name websocket")
    if "upgrade" not in (token.lower() for token in _tokens(headers.get("connection"))):
        raise HandshakeError("Connection does not name upgrade")
    version = headers.get("sec-websocket-version")
    if version is None or version.strip(" \t") != SUPPORTED_VERSION:
        raise UnsupportedVersion("only WebSocket version 13 is supported")
    key = headers.get("sec-websocket-key")
    if key is None:
        raise HandshakeError("missing Sec-WebSocket-Key")
    key = key.strip(" \t")
    try:
        nonce = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise HandshakeError("Sec-WebSocket-Key is not base64") from None
    if len(nonce) != 16:
        raise HandshakeError("Sec-WebSocket-Key is not 16 bytes")
    subprotocols = _tokens(headers.get("sec-websocket-protocol"))
    for subprotocol in subprotocols:
        if _TOKEN_RE.fullmatch(subprotocol) is None:
            raise HandshakeError("malformed Sec-WebSocket-Protocol")
    extensions = parse_extensions(headers.get("sec-websocket-extensions", ""))
    return UpgradeRequest(key, tuple(subprotocols), tuple(extensions), headers.get("origin"))


def parse_extensions(value: str) -> list[ExtensionOffer]:
    """Parse `Sec-WebSocket-Extensions` (RFC 6455 9.1); a malformed list is
    a `HandshakeError`. A quoted value must still be a token once unquoted."""
    offers: list[ExtensionOffer] = []
    position = _LIST_SEPARATOR.match(value).end()
    while position < len(value):
        name = _TOKEN_RE.match(value, position)
        if name is None:
            raise HandshakeError("malformed Sec-WebSocket-Extensions")
        position = name.end()
        params: list[tuple[str, str | None]] = []
        while (param := _PARAMETER.match(value, position)) is not None:
            param_name, param_value = param.groups()
            if param_value is not None and param_value.startswith('"'):
                param_value = _QUOTED_PAIR.sub(r"\1", param_value[1:-1])
                if _TOKEN_RE.fullmatch(param_value) is None:
                    raise HandshakeError("malformed Sec-WebSocket-Extensions")
            params.append((param_name, param_value))
            position = param.end()
        offers.append(ExtensionOffer(name.group(), tuple(params)))
        separator = _LIST_SEPARATOR.match(value, position)
        if position < len(value) and "," not in separator.group():
            raise HandshakeError("malformed Sec-WebSocket-Extensions")
        position = separator.end()
    return offers


def accept_key(key: str) -> str:
    """RFC 6455 4.2.2: base64 of the SHA-1 of the key and the GUID."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def accept_headers(request: UpgradeRequest, subprotocol: str | None = None,
                   extra_headers: Iterable[tuple[str, str]] = (),
                   extension: str | None = None) -> list[tuple[str, str]]:
    """The header list of the 101 response.

    `subprotocol` must be one the client offered (RFC 6455 4.2.2: the
    client fails a connection whose subprotocol it did not ask for), and
    `extension` is the negotiated `Sec-WebSocket-Extensions` value, if any.
    """
    if subprotocol is not None and subprotocol not in request.subprotocols:
        raise ValueError(f"the client did not offer the subprotocol {subprotocol!r}")
    headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Accept", accept_key(request.key))]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extension is not None:
        headers.append(("Sec-WebSocket-Extensions", extension))
    for name, value in extra_headers:
        if name.lower() in _HANDSHAKE_FIELDS:
            raise ValueError(f"{name} is set by the handshake itself")
        headers.append((name, value))
    return headers


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Whether a handshake may proceed under an Origin allow-list.

    Browsers always send Origin; other clients usually do not and are not
    subject to cross-site attacks, so a missing Origin passes. Origins are
    compared as the browser serializes them (RFC 6454), case-insensitively.
    """
    if origin is None:
        return True
    origin = origin.strip(" \t").lower()
    return any(origin == candidate.strip(" \t").lower().rstrip("/") for candidate in allowed)
